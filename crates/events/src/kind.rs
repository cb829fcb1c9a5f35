//! Event kinds: the fixed funnel kinds plus any other kind kept by name.

use serde::{Deserialize, Serialize};

/// The kind of a shop event.
///
/// The five funnel kinds have fixed codes (see [`EventKind::fixed_code`]); any other kind found in
/// the data is kept by name in a table's kind dictionary, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A product page view (REES46 `view`, Taobao `pv`, Retailrocket `view`, OTTO `clicks`).
    View,
    /// An add-to-cart (REES46 `cart`, Taobao `cart`, Retailrocket `addtocart`, OTTO `carts`).
    Cart,
    /// A removal from the cart (REES46 `remove_from_cart`).
    RemoveFromCart,
    /// A purchase (REES46 `purchase`, Taobao `buy`, Retailrocket `transaction`, OTTO `orders`).
    Purchase,
    /// A wishlist / favourite (Taobao `fav`).
    Wishlist,
    /// Any other kind, kept by its name in the source.
    Other(String),
}

/// Code of [`EventKind::View`] in columnar tables.
pub const VIEW: u8 = 0;
/// Code of [`EventKind::Cart`] in columnar tables.
pub const CART: u8 = 1;
/// Code of [`EventKind::RemoveFromCart`] in columnar tables.
pub const REMOVE_FROM_CART: u8 = 2;
/// Code of [`EventKind::Purchase`] in columnar tables.
pub const PURCHASE: u8 = 3;
/// Code of [`EventKind::Wishlist`] in columnar tables.
pub const WISHLIST: u8 = 4;
/// Number of fixed kind codes; codes at or above this index name [`EventKind::Other`] kinds.
pub const FIXED_KINDS: u8 = 5;

/// Canonical names of the fixed kinds, indexed by code.
pub const FIXED_KIND_NAMES: [&str; FIXED_KINDS as usize] =
    ["view", "cart", "remove_from_cart", "purchase", "wishlist"];

impl EventKind {
    /// Canonical name (`view`, `cart`, `remove_from_cart`, `purchase`, `wishlist`, or the
    /// other kind's own name).
    pub fn name(&self) -> &str {
        match self {
            EventKind::View => "view",
            EventKind::Cart => "cart",
            EventKind::RemoveFromCart => "remove_from_cart",
            EventKind::Purchase => "purchase",
            EventKind::Wishlist => "wishlist",
            EventKind::Other(s) => s,
        }
    }

    /// The fixed code of a funnel kind, `None` for [`EventKind::Other`].
    pub fn fixed_code(&self) -> Option<u8> {
        match self {
            EventKind::View => Some(VIEW),
            EventKind::Cart => Some(CART),
            EventKind::RemoveFromCart => Some(REMOVE_FROM_CART),
            EventKind::Purchase => Some(PURCHASE),
            EventKind::Wishlist => Some(WISHLIST),
            EventKind::Other(_) => None,
        }
    }

    /// Parses a canonical name; unknown names become [`EventKind::Other`].
    pub fn from_name(name: &str) -> EventKind {
        match name {
            "view" => EventKind::View,
            "cart" => EventKind::Cart,
            "remove_from_cart" => EventKind::RemoveFromCart,
            "purchase" => EventKind::Purchase,
            "wishlist" => EventKind::Wishlist,
            other => EventKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind as a reader sees it: a fixed code, or the name of another kind (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindRef<'a> {
    /// One of the fixed kinds, by code.
    Fixed(u8),
    /// Another kind, by name.
    Other(&'a str),
}
