package servingcert

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// ServiceHosts returns the names a webhook behind Service service in
// namespace is called by (service.namespace.svc and its cluster.local
// form), then extra (DNS names or IP addresses, e.g. for a webhook
// registered by URL).
func ServiceHosts(service, namespace string, extra ...string) Hosts {
	svc := service + "." + namespace + ".svc"
	return append(Hosts{svc, svc + ".cluster.local"}, extra...)
}

// Rotator keeps the serving certificate in a Secret valid and the CA
// bundle injected. Run exactly one at a time per Secret (on the leader):
// it is the only writer.
type Rotator struct {
	client    kubernetes.Interface
	namespace string
	secret    string
	hosts     Hosts
	o         options
}

// NewRotator returns a rotator of Secret secret in namespace, for a
// serving certificate valid for hosts.
func NewRotator(client kubernetes.Interface, namespace, secret string, hosts Hosts, opts ...Option) *Rotator {
	return &Rotator{client: client, namespace: namespace, secret: secret, hosts: hosts, o: newOptions(opts)}
}

// Run reconciles when the Secret or the webhook configuration changes,
// when a certificate falls due, and after errors (retried with backoff),
// until ctx is done. It returns an error only when it cannot watch.
func (r *Rotator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k := newKicker()
	factories := []informers.SharedInformerFactory{byName(r.client, r.namespace, r.secret)}
	if _, err := factories[0].Core().V1().Secrets().Informer().AddEventHandler(k.handler()); err != nil {
		return err
	}
	if r.o.webhookConfig != "" {
		f := byName(r.client, "", r.o.webhookConfig)
		if _, err := f.Admissionregistration().V1().MutatingWebhookConfigurations().Informer().AddEventHandler(k.handler()); err != nil {
			return err
		}
		factories = append(factories, f)
	}
	defer func() {
		cancel()
		for _, f := range factories {
			f.Shutdown()
		}
	}()
	if err := startAndSync(ctx, factories...); err != nil {
		return fmt.Errorf("watching secret %s/%s and webhook configuration %q: %w", r.namespace, r.secret, r.o.webhookConfig, err)
	}
	loop(ctx, k, r.o, r.Reconcile, func(err error) {
		r.o.log.Error("managing the serving certificate", "secret", r.namespace+"/"+r.secret, "error", err)
	})
	return nil
}

// Reconcile renews what is due in the Secret (creating it when missing)
// and injects the CA bundle, and returns when to look again. A new CA is
// injected before the Secret that uses it is written, and the old CA
// stays in the bundle, so replicas still serving the old certificate
// stay trusted.
func (r *Rotator) Reconcile(ctx context.Context) (time.Time, error) {
	api := r.client.CoreV1().Secrets(r.namespace)
	sec, err := api.Get(ctx, r.secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = nil
	case err != nil:
		return time.Time{}, fmt.Errorf("reading secret %s/%s: %w", r.namespace, r.secret, err)
	}
	var data map[string][]byte
	if sec != nil {
		data = sec.Data
	}
	ren, err := Renew(data, r.hosts, r.o.now(), r.o.lifetimes)
	if err != nil {
		return time.Time{}, err
	}
	bundle := ren.Data[CABundleKey]
	if ren.Reason == ReasonNone {
		return ren.Next, r.inject(ctx, bundle)
	}
	if err := r.inject(ctx, bundle); err != nil {
		return time.Time{}, err
	}
	if sec == nil {
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: r.secret, Namespace: r.namespace},
			Type:       corev1.SecretTypeTLS,
			Data:       ren.Data,
		}
		_, err = api.Create(ctx, sec, metav1.CreateOptions{})
	} else {
		sec = sec.DeepCopy()
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		maps.Copy(sec.Data, ren.Data)
		_, err = api.Update(ctx, sec, metav1.UpdateOptions{})
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("writing secret %s/%s: %w", r.namespace, r.secret, err)
	}
	r.o.log.Info("serving certificate written", "secret", r.namespace+"/"+r.secret, "reason", string(ren.Reason), "hosts", r.hosts, "next", ren.Next)
	return ren.Next, nil
}

// inject sets every webhook's caBundle to bundle.
func (r *Rotator) inject(ctx context.Context, bundle []byte) error {
	if r.o.webhookConfig == "" {
		return nil
	}
	api := r.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := api.Get(ctx, r.o.webhookConfig, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Injected when it appears: the watch kicks the rotator.
		r.o.log.Info("webhook configuration not found; the CA bundle is injected once it exists", "webhookConfiguration", r.o.webhookConfig)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading mutating webhook configuration %s: %w", r.o.webhookConfig, err)
	}
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
			cfg.Webhooks[i].ClientConfig.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if _, err := api.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("injecting the CA bundle into mutating webhook configuration %s: %w", r.o.webhookConfig, err)
	}
	r.o.log.Info("CA bundle injected", "webhookConfiguration", r.o.webhookConfig, "webhooks", len(cfg.Webhooks))
	return nil
}
