/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

// Command chartdoc writes the values table of a Helm chart's README from
// the comments of its values.yaml, so the two cannot drift apart.
//
// A key is documented by a comment block starting with "# --" right above
// it (helm-docs' convention); the block's text is the description. A
// documented key is one row, whatever its value (a map such as resources
// shows its default as JSON); an undocumented map is descended into, and an
// undocumented leaf is an error, so every value has a description.
//
// The table replaces what lies between the README's markers
// "<!-- values:start -->" and "<!-- values:end -->".
//
//	go run ./hack/chartdoc            rewrite charts/certsync/README.md
//	go run ./hack/chartdoc -check     fail if it is stale
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	startMarker = "<!-- values:start -->"
	endMarker   = "<!-- values:end -->"
	docPrefix   = "# --"
)

func main() {
	values := flag.String("values", "charts/certsync/values.yaml", "the chart's values file")
	readme := flag.String("readme", "charts/certsync/README.md", "the README holding the table between the markers")
	check := flag.Bool("check", false, "only check that the README is up to date")
	flag.Parse()
	if err := run(*values, *readme, *check); err != nil {
		fmt.Fprintln(os.Stderr, "chartdoc:", err)
		os.Exit(1)
	}
}

func run(valuesPath, readmePath string, check bool) error {
	values, err := os.ReadFile(valuesPath)
	if err != nil {
		return err
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	table, err := Table(values)
	if err != nil {
		return fmt.Errorf("%s: %w", valuesPath, err)
	}
	out, err := Splice(readme, table)
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	if check {
		if !bytes.Equal(out, readme) {
			return fmt.Errorf("%s is stale: run 'make chart-docs' and commit the result", readmePath)
		}
		return nil
	}
	if bytes.Equal(out, readme) {
		return nil
	}
	return os.WriteFile(readmePath, out, 0o644)
}

// Row is one documented value.
type Row struct {
	Key, Type, Default, Description string
}

// Table renders the markdown values table of a values.yaml document.
func Table(values []byte) ([]byte, error) {
	rows, err := Rows(values)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", r.Key, r.Type, escape(r.Default), escape(r.Description))
	}
	return b.Bytes(), nil
}

// Rows returns the documented values in file order.
func Rows(values []byte) ([]Row, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(values, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping at the top level")
	}
	var rows []Row
	err := walk(doc.Content[0], "", &rows)
	return rows, err
}

func walk(m *yaml.Node, prefix string, rows *[]Row) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		desc, ok := description(k.HeadComment)
		if !ok {
			if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
				if err := walk(v, key+".", rows); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("line %d: %s has no %q comment", k.Line, key, docPrefix)
		}
		def, typ, err := render(v)
		if err != nil {
			return fmt.Errorf("line %d: %s: %w", k.Line, key, err)
		}
		*rows = append(*rows, Row{Key: key, Type: typ, Default: def, Description: desc})
	}
	return nil
}

// description returns the text of the last "# --" block of a head comment
// (earlier paragraphs belong to the file or a section, not to the key).
func description(head string) (string, bool) {
	i := strings.LastIndex(head, docPrefix)
	if i < 0 {
		return "", false
	}
	var words []string
	for _, line := range strings.Split(head[i+len(docPrefix):], "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if line != "" {
			words = append(words, line)
		}
	}
	return strings.Join(words, " "), true
}

// render returns a value's default as compact JSON and its type name.
func render(v *yaml.Node) (string, string, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return "", "", err
	}
	typ := "string"
	switch x.(type) {
	case bool:
		typ = "bool"
	case int, int64, uint64:
		typ = "int"
	case float64:
		typ = "float"
	case []any:
		typ = "list"
	case map[string]any:
		typ = "object"
	case nil:
		typ = "object"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return "", "", err
	}
	return string(b), typ, nil
}

func escape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// Splice replaces the text between the markers of readme with table.
func Splice(readme, table []byte) ([]byte, error) {
	start := bytes.Index(readme, []byte(startMarker))
	end := bytes.Index(readme, []byte(endMarker))
	if start < 0 || end < start {
		return nil, fmt.Errorf("no %s ... %s section", startMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(readme[:start+len(startMarker)])
	out.WriteString("\n")
	out.Write(table)
	out.Write(readme[end:])
	return out.Bytes(), nil
}
