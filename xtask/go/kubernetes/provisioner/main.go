// Command provisioner is the local cluster's dynamic volume provisioner:
// one folder per claim under -dir, as a hostPath PersistentVolume.
//
// It replaces the controller-manager's built-in host-path provisioner,
// which makes its folders 0750 root:root: Kubernetes applies a pod's
// fsGroup to hostPath volumes never, so a non-root pod (every CT in a
// restricted namespace) could not write to its own volume on a real node.
// Folders made here are 0777, so any uid can use them, as it can on a CSI
// volume that honours fsGroup.
//
// Watches (informers), never polls; a bounded pool of workers so thousands
// of claims at once do not swamp the apiserver. A Released volume with the
// Delete policy has its folder removed, then the PersistentVolume deleted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

const (
	// The PV controller writes the class's provisioner name here.
	provisionerAnnotation = "volume.kubernetes.io/storage-provisioner"
	provisionedBy         = "pv.kubernetes.io/provisioned-by"
)

type provisioner struct {
	client kubernetes.Interface
	name   string
	dir    string
	work   chan func()
	mu     sync.Mutex
	busy   map[string]bool
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the provisioner's user")
	dir := flag.String("dir", "", "folder to make volumes in")
	name := flag.String("name", "corral.dev/local-hostpath", "provisioner name (StorageClass.provisioner)")
	workers := flag.Int("workers", 16, "API calls at once")
	flag.Parse()
	if *dir == "" || *kubeconfig == "" {
		klog.Fatal("-kubeconfig and -dir are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	client := kubernetes.NewForConfigOrDie(cfg)
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		klog.Fatalf("making %s: %v", *dir, err)
	}
	p := &provisioner{client: client, name: *name, dir: *dir, work: make(chan func(), 1<<16), busy: map[string]bool{}}
	for i := 0; i < *workers; i++ {
		go func() {
			for f := range p.work {
				f()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	factory := informers.NewSharedInformerFactory(client, 0)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumes := factory.Core().V1().PersistentVolumes().Informer()
	claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.claim(ctx, o) },
		UpdateFunc: func(_, o any) { p.claim(ctx, o) },
		DeleteFunc: func(o any) { p.claimGone(ctx, o) },
	})
	volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.volume(ctx, o) },
		UpdateFunc: func(_, o any) { p.volume(ctx, o) },
	})
	factory.Start(ctx.Done())
	klog.Infof("provisioning %s volumes under %s", p.name, p.dir)
	<-ctx.Done()
}

// once runs f on a worker unless work for key is already queued or running.
func (p *provisioner) once(key string, f func()) {
	p.mu.Lock()
	if p.busy[key] {
		p.mu.Unlock()
		return
	}
	p.busy[key] = true
	p.mu.Unlock()
	p.work <- func() {
		defer func() {
			p.mu.Lock()
			delete(p.busy, key)
			p.mu.Unlock()
		}()
		f()
	}
}

func (p *provisioner) claim(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending ||
		pvc.Annotations[provisionerAnnotation] != p.name || pvc.DeletionTimestamp != nil {
		return
	}
	pvc = pvc.DeepCopy()
	p.once("pvc/"+string(pvc.UID), func() {
		if err := p.provision(ctx, pvc); err != nil {
			klog.Errorf("provisioning %s/%s: %v", pvc.Namespace, pvc.Name, err)
		}
	})
}

func (p *provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(p.dir, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	// MkdirAll's mode is cut by the umask.
	if err := os.Chmod(path, 0o777); err != nil {
		return err
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{provisionedBy: p.name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              class,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path},
			},
		},
	}
	_, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// claimGone removes the volume made for a deleted claim at once: its name
// is the claim's uid, so it can belong to no other claim, and its reclaim
// policy is Delete. Not waiting for the PV controller to mark it Released
// keeps deleting thousands of CTs from queueing behind that controller's
// single worker (the Released path below still covers missed events).
func (p *provisioner) claimGone(ctx context.Context, o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Annotations[provisionerAnnotation] != p.name {
		return
	}
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(p.dir, name)
	p.once("pv/"+name, func() {
		if err := p.remove(ctx, name, path); err != nil {
			klog.Errorf("deleting %s: %v", name, err)
		}
	})
}

func (p *provisioner) volume(ctx context.Context, o any) {
	pv, ok := o.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[provisionedBy] != p.name || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.HostPath == nil {
		return
	}
	name, path := pv.Name, pv.Spec.HostPath.Path
	p.once("pv/"+name, func() {
		if err := p.remove(ctx, name, path); err != nil {
			klog.Errorf("deleting %s: %v", name, err)
		}
	})
}

func (p *provisioner) remove(ctx context.Context, name, path string) error {
	// Only ever a folder of ours, directly under -dir.
	if filepath.Dir(path) != filepath.Clean(p.dir) || !strings.HasPrefix(filepath.Base(path), "pvc-") {
		return fmt.Errorf("refusing to remove %s: not a volume folder under %s", path, p.dir)
	}
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	err := p.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
