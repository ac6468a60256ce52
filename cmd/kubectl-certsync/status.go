package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/estate"
)

// status prints the estate of namespace ns ("" for all), most urgent first.
func status(ctx context.Context, c client.Client, ns, format string, now time.Time, w io.Writer) error {
	var css v1alpha1.CertSyncList
	if err := c.List(ctx, &css, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing CertSyncs: %w", err)
	}
	var sss v1alpha1.SecretSyncList
	if err := c.List(ctx, &sss, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing SecretSyncs: %w", err)
	}
	rows := []estate.Row{}
	for i := range css.Items {
		rows = append(rows, estate.FromCertSync(&css.Items[i], now))
	}
	for i := range sss.Items {
		rows = append(rows, estate.FromSecretSync(&sss.Items[i], now))
	}
	estate.Sort(rows)
	if format != "table" {
		return printData(w, format, rows)
	}
	if len(rows) == 0 {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(w, "No CertSync or SecretSync in %s.\n", where)
		return err
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = r.Cells(ns == "")
	}
	return printTable(w, estate.Header(ns == ""), cells)
}
