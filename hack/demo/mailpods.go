package main

import (
	"context"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/test/mailsim"
)

// mailPorts: the simulated Postfix and Dovecot listen on unprivileged ports,
// named after their protocol so certsync knows how to speak to them.
var mailPorts = []corev1.ContainerPort{
	{Name: "smtp", ContainerPort: 1025},
	{Name: "imap", ContainerPort: 1143},
	{Name: "imaps", ContainerPort: 1993},
}

// startMailPods runs the simulator that plays the mail pods: kwok runs no
// containers, so this serves SMTP/IMAP (STARTTLS) and IMAPS on each pod's IP
// with the certificate its Secret held when the pod started, like Postfix
// and Dovecot do.
func (d *demo) startMailPods(ctx context.Context) error {
	sim, err := mailsim.New(mailsim.Options{
		Config: d.local.Config, Namespace: mailNS,
		Selector: labels.SelectorFromSet(labels.Set{"tier": "mail"}), Log: logr.Discard(),
	})
	if err != nil {
		return err
	}
	d.sim = sim
	simCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sim.Run(simCtx)
	}()
	d.stops = append(d.stops, func() {
		cancel()
		<-done
	})
	return nil
}

func mailTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app, "tier": "mail"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: app, Image: app + ":demo", Ports: mailPorts,
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/ssl/mail", ReadOnly: true}}}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: targetTLS}}}},
		},
	}
}

func (d *demo) createMailWorkloads(ctx context.Context) error {
	postfix := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "postfix"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "postfix"}},
			Template: mailTemplate("postfix"),
		},
	}
	dovecot := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "dovecot"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](2),
			ServiceName:         "dovecot",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "dovecot"}},
			Template:            mailTemplate("dovecot"),
		},
	}
	if err := d.c.Create(ctx, postfix); err != nil {
		return err
	}
	return d.c.Create(ctx, dovecot)
}
