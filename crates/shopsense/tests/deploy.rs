//! The deployment files (deploy/Dockerfile, deploy/k8s/*.yaml, deploy/prometheus.yml) stay in
//! step with the real CLI and server: every `shopsense <cmd> --flag …` they run parses with the
//! binary's own clap definition (`Cli::command()`), ports match the serve default, probe and
//! scrape paths are real routes, and every absolute path argument lies on a mounted volume.

#![allow(dead_code)]

#[path = "../src/cli.rs"]
mod cli;
#[path = "../src/cmd_cluster.rs"]
mod cmd_cluster;
#[path = "../src/cmd_demo.rs"]
mod cmd_demo;
#[path = "../src/cmd_recs.rs"]
mod cmd_recs;
#[path = "../src/cmd_retrain.rs"]
mod cmd_retrain;
#[path = "../src/cmd_serve.rs"]
mod cmd_serve;
#[path = "../src/cmd_stream.rs"]
mod cmd_stream;
#[path = "../src/commands.rs"]
mod commands;
#[path = "../src/progress.rs"]
mod progress;

use clap::{CommandFactory, Parser};
use serde_yaml::Value;
use std::path::PathBuf;

fn deploy(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(p)
}

fn yaml_docs(p: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy(p)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("not a string: {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every container spec under `v`, found by walking the document.
fn containers(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                if k.as_str() == Some("containers") {
                    out.extend(x.as_sequence().cloned().unwrap_or_default());
                } else {
                    containers(x, out);
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| containers(x, out)),
        _ => {}
    }
}

fn serve_port() -> u16 {
    cmd_serve::DEFAULT_ADDR
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .port()
}

/// Checks one `shopsense …` argv against the CLI (every subcommand and flag must exist).
fn check_argv(argv: &[String], origin: &str) {
    assert_eq!(argv[0], "shopsense", "{origin}: runs {argv:?}");
    let cmd = cli::Cli::command();
    let Some(sub) = cmd.find_subcommand(&argv[1]) else {
        panic!("{origin}: `shopsense {}` is not a subcommand", argv[1]);
    };
    for a in argv.iter().filter(|a| a.starts_with("--")) {
        let name = a.trim_start_matches("--").split('=').next().unwrap();
        assert!(
            sub.get_arguments().any(|x| x.get_long() == Some(name)),
            "{origin}: `shopsense {} --{name}` is not a flag of the real CLI",
            argv[1]
        );
    }
    if let Err(e) = cli::Cli::try_parse_from(argv) {
        panic!("{origin}: {argv:?} does not parse: {e}");
    }
}

#[test]
fn kubernetes_manifests_match_the_cli_and_the_server() {
    let openapi = shopsense_serve::openapi_json();
    let route = |p: &str| openapi.contains(&format!("\"{p}\""));
    let port = serve_port();
    let mut checked = 0;
    let mut saw_retrain = false;
    for file in [
        "k8s/deployment.yaml",
        "k8s/cronjob-retrain.yaml",
        "k8s/service.yaml",
        "k8s/servicemonitor.yaml",
    ] {
        for doc in yaml_docs(file) {
            let mut cs = Vec::new();
            containers(&doc, &mut cs);
            for c in &cs {
                let mut argv = strs(&c["command"]);
                argv.extend(strs(&c["args"]));
                assert!(!argv.is_empty(), "{file}: a container without a command");
                if argv[1] == "retrain" {
                    saw_retrain = true;
                    assert_eq!(
                        argv[1..].join(" "),
                        "retrain --store /data/store --incoming /data/incoming --registry /models --runs /runs \
                         --metrics-file /runs/shopsense_retrain.prom",
                        "{file}"
                    );
                }
                check_argv(&argv, file);
                checked += 1;
                // Absolute paths in the arguments lie on mounted volumes.
                let mounts: Vec<String> = c["volumeMounts"]
                    .as_sequence()
                    .map(|s| {
                        s.iter()
                            .filter_map(|m| m["mountPath"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                for a in argv.iter().filter(|a| a.starts_with('/')) {
                    assert!(
                        mounts
                            .iter()
                            .any(|m| a == m || a.starts_with(&format!("{m}/"))),
                        "{file}: {a} is on no volume ({mounts:?})"
                    );
                }
                if argv[1] == "serve" {
                    let at = argv.iter().position(|a| a == "--addr").unwrap();
                    let addr: std::net::SocketAddr = argv[at + 1].parse().unwrap();
                    assert_eq!(addr.port(), port, "{file}: --addr");
                    let ports = c["ports"].as_sequence().unwrap();
                    assert_eq!(ports[0]["containerPort"].as_u64(), Some(u64::from(port)));
                    for probe in ["readinessProbe", "livenessProbe"] {
                        let p = c[probe]["httpGet"]["path"].as_str().unwrap();
                        assert!(route(p), "{file}: {probe} {p} is not a route");
                    }
                    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
                    let env = c["env"].as_sequence().unwrap();
                    assert!(
                        env.iter().any(|e| e["name"] == "SHOPSENSE_API_KEY"),
                        "{file}: the API key comes from the environment the CLI reads"
                    );
                }
            }
            match doc["kind"].as_str() {
                Some("Service") => {
                    let p = &doc["spec"]["ports"][0];
                    assert_eq!(p["targetPort"].as_u64(), Some(u64::from(port)), "{file}");
                    assert_eq!(p["name"], "http");
                    assert_eq!(doc["spec"]["selector"]["app"], "shopsense");
                }
                Some("ServiceMonitor") => {
                    let e = &doc["spec"]["endpoints"][0];
                    assert_eq!(e["port"], "http", "{file}: the Service's port name");
                    assert!(route(e["path"].as_str().unwrap()), "{file}");
                    assert_eq!(doc["spec"]["selector"]["matchLabels"]["app"], "shopsense");
                }
                _ => {}
            }
        }
    }
    assert!(saw_retrain, "the CronJob runs shopsense retrain");
    assert!(checked >= 1, "the Deployment's serve command was checked");
}

#[test]
fn dockerfile_and_prometheus_config_match() {
    let text = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let json_line = |prefix: &str| -> Vec<String> {
        let l = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}"));
        serde_json::from_str(l[prefix.len()..].trim()).unwrap()
    };
    let entry = json_line("ENTRYPOINT");
    assert_eq!(entry, ["/usr/local/bin/shopsense"]);
    let mut argv = vec!["shopsense".to_string()];
    argv.extend(json_line("CMD"));
    check_argv(&argv, "Dockerfile CMD");
    assert!(text.contains(&format!("EXPOSE {}", serve_port())));
    assert!(
        text.contains("libgomp1") && text.contains("libclang-dev") && text.contains("cmake>=3.28")
    );
    assert!(text.contains("FROM debian:bookworm-slim") && text.contains("AS builder"));

    let prom: Value =
        serde_yaml::from_str(&std::fs::read_to_string(deploy("prometheus.yml")).unwrap()).unwrap();
    let job = &prom["scrape_configs"][0];
    assert_eq!(job["metrics_path"], "/metrics");
    assert!(shopsense_serve::openapi_json().contains("\"/metrics\""));
    let target = job["static_configs"][0]["targets"][0].as_str().unwrap();
    assert!(target.ends_with(&format!(":{}", serve_port())), "{target}");
}
