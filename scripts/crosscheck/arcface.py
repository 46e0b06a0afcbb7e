"""Cross-check of the Go aligned pipeline's accuracy in Python (investigation only).

Reproduces the GUIDE's "MTCNN 5-point similarity alignment to the 112x112
five-point (ArcFace) template scaled to 160" recipe on all of lfw-dev with the
PyPI mtcnn==1.0.0 package (its default integer keypoints), a numpy least-squares
similarity and a numpy bilinear warp (output pixel (u, v) samples the photo at
the inverse transform of (u, v), integer pixel centres, edges repeated: what
cv2.warpAffine and align.Warp do), FaceNet's prewhiten and the exported
SavedModel, then prints 5-fold accuracy (threshold from the other folds) for
the largest face ("big"), the most confident one ("conf") and the largest
near the centre ("central": area less twice the squared offset from the
photo's centre, as facebatch eval and FaceNet's align_dataset_mtcnn pick it). Nothing in the pipeline or the tests runs it. From the repo root,
with the setup venv (which has tensorflow and mtcnn):

    source .facebatch.env && $FACEBATCH_VENV/bin/python scripts/crosscheck/arcface.py

Measured here: big 98.80% +- 0.49, conf 94.60% +- 0.76, central 99.17% +- 0.46
(about 8 min on 2 busy cores).
"""
import json, numpy as np, tensorflow as tf, os, sys
from mtcnn import MTCNN
root='../shared/lfw-dev/'
lines=open(root+'pairs.txt').read().split('\n')[1:]
pairs=[]
for i,l in enumerate(x for x in lines if x.strip()):
    f=l.split(); fold=i//600
    if len(f)==3: pairs.append(((f[0],int(f[1])),(f[0],int(f[2])),True,fold))
    else: pairs.append(((f[0],int(f[1])),(f[2],int(f[3])),False,fold))
imgs=sorted({p[0] for p in pairs}|{p[1] for p in pairs})
T=np.array([(38.2946,51.6963),(73.5318,51.5014),(56.0252,71.7366),(41.5493,92.3655),(70.7299,92.2041)])*160/112
def umeyama(src,dst):
    sc,dc=src.mean(0),dst.mean(0); s,d=src-sc,dst-dc; n=(s**2).sum()
    a=(s*d).sum()/n; b=(s[:,0]*d[:,1]-s[:,1]*d[:,0]).sum()/n
    M=np.array([[a,-b,0],[b,a,0.]]); M[:,2]=dc-M[:,:2]@sc; return M
def warp(img,M,size=160):
    A=np.vstack([M,[0,0,1]]); inv=np.linalg.inv(A); v,u=np.mgrid[0:size,0:size]
    x=inv[0,0]*u+inv[0,1]*v+inv[0,2]; y=inv[1,0]*u+inv[1,1]*v+inv[1,2]; H,W=img.shape[:2]
    x=np.clip(x,0,W-1); y=np.clip(y,0,H-1); x0=np.floor(x).astype(int); y0=np.floor(y).astype(int)
    x1=np.minimum(x0+1,W-1); y1=np.minimum(y0+1,H-1); fx=(x-x0)[...,None]; fy=(y-y0)[...,None]; im=img.astype(np.float64)
    top=im[y0,x0]+(im[y0,x1]-im[y0,x0])*fx; bot=im[y1,x0]+(im[y1,x1]-im[y1,x0])*fx; return top+(bot-top)*fy
os.makedirs("out", exist_ok=True)
det=MTCNN()
m=tf.saved_model.load(os.environ['FACEBATCH_MODEL']+'/saved_model'); sig=m.signatures['serving_default']
KEYS=['left_eye','right_eye','nose','mouth_left','mouth_right']
inputs={'big':[], 'conf':[], 'central':[]}; nodiff=0; cache={}
for n,(name,i) in enumerate(imgs):
    path=f'{root}images/{name}/{name}_{i:04d}.jpg'
    img=tf.io.decode_jpeg(tf.io.read_file(path),channels=3,dct_method="INTEGER_ACCURATE").numpy()
    fs=det.detect_faces(img)
    cache[path]=fs
    H,W=img.shape[:2]
    central=lambda f:f['box'][2]*f['box'][3]-2*((f['box'][0]+f['box'][2]/2-W/2)**2+(f['box'][1]+f['box'][3]/2-H/2)**2)
    for k,sel in (('big',lambda f:f['box'][2]*f['box'][3]),('conf',lambda f:f['confidence']),('central',central)):
        if k!='big' and fs and max(fs,key=lambda f:f['box'][2]*f['box'][3]) is max(fs,key=sel):
            inputs[k].append(None); continue
        if fs:
            f=max(fs,key=sel); lm=np.array([f['keypoints'][q] for q in KEYS],float)
            x=warp(img,umeyama(lm,T))
        else:
            x=img[65:185,65:185].astype(float)  # centre crop; resized below
            x=tf.image.resize(x[None],(160,160)).numpy()[0]
        inputs[k].append(x.astype(np.float32))
    if n%500==0: print(n,flush=True)
def enc(xs):
    out=[]
    for s in range(0,len(xs),64):
        b=np.stack([(a-a.mean())/max(a.std(),1/np.sqrt(a.size)) for a in xs[s:s+64]]).astype(np.float32)
        out.append(list(sig(tf.constant(b)).values())[0].numpy())
    o=np.concatenate(out); return o/np.linalg.norm(o,axis=1,keepdims=True)
idx={r:j for j,r in enumerate(imgs)}
same=np.array([p[2] for p in pairs]); folds=np.array([p[3] for p in pairs])
def best(d,s):
    ts=np.sort(d); ts=np.concatenate([[0],(ts[1:]+ts[:-1])/2,[4]])
    acc=[((d<t)==s).mean() for t in ts]; k=int(np.argmax(acc)); return ts[k]
for k in inputs:
    xs=[a if a is not None else inputs['big'][j] for j,a in enumerate(inputs[k])]
    print(k,'differs',sum(a is not None for a in inputs[k]))
    E=enc(xs)
    d=np.array([np.linalg.norm(E[idx[p[0]]]-E[idx[p[1]]]) for p in pairs])
    accs=[]
    for f in range(5):
        t=best(d[folds!=f],same[folds!=f]); accs.append(((d[folds==f]<t)==same[folds==f]).mean())
    print(k,'acc %.2f +- %.2f'%(100*np.mean(accs),100*np.std(accs)), 'best thr', best(d,same), flush=True)
    np.save(f'out/py_dist_{k}.npy',d)
