# Reference numbers for the shopsense-eval and shopsense-models tests (scikit-learn 1.9.1,
# numpy 2.4). Run once: `pip install scikit-learn numpy && python3 sklearn_reference.py`;
# the printed values are hard-coded in the tests.
import numpy as np, json
from sklearn import metrics as M
from sklearn.linear_model import LogisticRegression
from sklearn.isotonic import IsotonicRegression
from sklearn.calibration import calibration_curve, _sigmoid_calibration
np.set_printoptions(precision=17)
y = np.array([0,1,1,0,1,0,0,1,1,0,0,0,1,0,1,0,0,1,0,0])
p = np.array([0.1,0.8,0.6,0.3,0.6,0.2,0.05,0.9,0.4,0.4,0.6,0.15,0.7,0.35,0.55,0.0,0.3,0.95,0.5,1.0])
w = np.array([1,2,1,1,0.5,1,3,1,1,1,2,1,1,1,1,0.5,1,1,1,2.0])
out = {}
out['auc'] = M.roc_auc_score(y,p)
out['auc_w'] = M.roc_auc_score(y,p,sample_weight=w)
out['ap'] = M.average_precision_score(y,p)
out['ap_w'] = M.average_precision_score(y,p,sample_weight=w)
out['logloss'] = M.log_loss(y,p)
out['logloss_w'] = M.log_loss(y,p,sample_weight=w)
out['brier'] = M.brier_score_loss(y,p)
yh = (p>=0.5).astype(int)
out['prec'] = M.precision_score(y,yh); out['rec']=M.recall_score(y,yh); out['f1']=M.f1_score(y,yh)
out['cm'] = M.confusion_matrix(y,yh).tolist()
pt, pp = calibration_curve(y,p,n_bins=5,strategy='uniform')
out['cal_true']=pt.tolist(); out['cal_pred']=pp.tolist()
fpr,tpr,thr = M.roc_curve(y,p, drop_intermediate=False)
out['roc_n']=len(fpr)
# multiclass
yc = np.array([0,1,2,2,1,0,0,2,1,1,0,2,2,1,0])
yp = np.array([0,2,2,1,1,0,1,2,1,0,0,2,0,1,0])
P = np.array([[0.7,0.2,0.1],[0.2,0.3,0.5],[0.1,0.2,0.7],[0.2,0.5,0.3],[0.1,0.8,0.1],[0.6,0.3,0.1],[0.3,0.4,0.3],[0.05,0.15,0.8],[0.2,0.6,0.2],[0.5,0.4,0.1],[0.9,0.05,0.05],[0.1,0.1,0.8],[0.4,0.3,0.3],[0.3,0.6,0.1],[0.8,0.1,0.1]])
out['macro_f1']=M.f1_score(yc,yp,average='macro')
pr,rc,f1,sup = M.precision_recall_fscore_support(yc,yp)
out['mc_prec']=pr.tolist(); out['mc_rec']=rc.tolist(); out['mc_f1']=f1.tolist()
out['mc_cm']=M.confusion_matrix(yc,yp).tolist()
out['mc_logloss']=M.log_loss(yc,P)
# isotonic
iso = IsotonicRegression(out_of_bounds='clip').fit(p,y)
q = np.array([0.0,0.12,0.33,0.45,0.58,0.65,0.85,1.0,-0.5,1.5])
out['iso_q']=q.tolist(); out['iso']=iso.predict(q).tolist()
# platt on logit(p clipped)
pc = np.clip(p,1e-15,1-1e-15); f = np.log(pc/(1-pc))
a,b = _sigmoid_calibration(f,y)
out['platt_a']=float(-a); out['platt_b']=float(-b)
# logistic regression on deterministic data
n=80
i=np.arange(n)
import math
x1=np.array([math.sin(k) for k in range(n)]).astype(np.float32); x2=np.array([math.cos(2*k)*3+1 for k in range(n)]).astype(np.float32); x3=((i%7)-3).astype(np.float32)
X=np.stack([x1,x2,x3],1).astype(np.float64)
yl=np.array([1 if (math.sin(k*1.3)+0.8*X[k,0]-0.3*X[k,2])>0.1 else 0 for k in range(n)])
mu=X.mean(0); sd=X.std(0)
Z=(X-mu)/sd
l2=0.05
clf=LogisticRegression(C=1/(l2*n),tol=1e-12,max_iter=100000).fit(Z,yl)
out['lr_coef']=clf.coef_[0].tolist(); out['lr_b']=float(clf.intercept_[0]); out['lr_y']=yl.tolist()
clf2=LogisticRegression(C=1/(l2*n),tol=1e-12,max_iter=100000,class_weight='balanced').fit(Z,yl)
out['lrw_coef']=clf2.coef_[0].tolist(); out['lrw_b']=float(clf2.intercept_[0])
print(json.dumps(out, indent=1))
