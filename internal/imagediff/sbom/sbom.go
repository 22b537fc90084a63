package sbom

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// MaxSize bounds the bytes Parse reads.
const MaxSize = 64 << 20

// maxNesting bounds envelope unwrapping and CycloneDX component nesting.
const (
	maxUnwrap  = 4
	maxNesting = 64
)

var (
	// ErrMalformed classifies a document that is not valid JSON of its format.
	ErrMalformed = errors.New("malformed SBOM")
	// ErrUnsupportedFormat classifies a document in a format not read here
	// (SPDX tag-value, CycloneDX XML, another predicate type...).
	ErrUnsupportedFormat = errors.New("unsupported SBOM format")
	// ErrTooLarge classifies a document larger than MaxSize.
	ErrTooLarge = errors.New("SBOM too large")
)

// The formats of Document.Format.
const (
	SPDX      = "spdx"
	CycloneDX = "cyclonedx"
)

// Document is the package list of one SBOM.
type Document struct {
	Format      string `json:"format"`      // SPDX or CycloneDX
	SpecVersion string `json:"specVersion"` // e.g. "SPDX-2.3", "1.5"
	// Envelope says how the SBOM was wrapped: "", "in-toto" or "dsse".
	Envelope string    `json:"envelope,omitempty"`
	Packages []Package `json:"packages"`
}

// Package is one package of an SBOM.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
}

// Parse reads an SBOM of the given media type (as a registry labels a
// layer or an artifact; "" or an unknown JSON type is sniffed from the
// content). Accepted: SPDX JSON, CycloneDX JSON, in-toto statements whose
// predicate is either, and DSSE envelopes carrying such a statement.
func Parse(mediaType string, r io.Reader) (*Document, error) {
	mt, _, _ := mime.ParseMediaType(mediaType)
	switch mt {
	case "text/spdx", "application/vnd.cyclonedx+xml", "application/vnd.cyclonedx", "text/xml", "application/xml":
		return nil, fmt.Errorf("%w: media type %s", ErrUnsupportedFormat, mt)
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxSize)
	}
	return parseJSON(b, 0)
}

// sniff holds the fields that tell the formats apart.
type sniff struct {
	// in-toto statement
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
	// DSSE envelope
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	// SPDX
	SPDXVersion string `json:"spdxVersion"`
	// CycloneDX
	BOMFormat string `json:"bomFormat"`
	// cosign's "custom" predicate wraps the document in a string
	Data json.RawMessage `json:"Data"`
}

func parseJSON(b []byte, depth int) (*Document, error) {
	if depth > maxUnwrap {
		return nil, fmt.Errorf("%w: envelopes nested deeper than %d", ErrMalformed, maxUnwrap)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrUnsupportedFormat)
	}
	var s sniff
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case s.SPDXVersion != "":
		return parseSPDX(b)
	case strings.EqualFold(s.BOMFormat, "CycloneDX"):
		return parseCycloneDX(b)
	case s.PayloadType != "":
		if s.PayloadType != "application/vnd.in-toto+json" {
			return nil, fmt.Errorf("%w: DSSE payload type %s", ErrUnsupportedFormat, s.PayloadType)
		}
		payload, err := base64.StdEncoding.DecodeString(s.Payload)
		if err != nil {
			if payload, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s.Payload, "=")); err != nil {
				return nil, fmt.Errorf("%w: DSSE payload: %w", ErrMalformed, err)
			}
		}
		return wrapped(payload, depth, "dsse")
	case strings.HasPrefix(s.Type, "https://in-toto.io/Statement/"):
		if len(s.Predicate) == 0 || string(s.Predicate) == "null" {
			return nil, fmt.Errorf("%w: in-toto statement without a predicate", ErrMalformed)
		}
		return wrapped(s.Predicate, depth, "in-toto")
	case len(s.Data) > 0:
		var text string
		if err := json.Unmarshal(s.Data, &text); err == nil {
			return parseJSON([]byte(text), depth+1)
		}
		return parseJSON(s.Data, depth+1)
	}
	return nil, fmt.Errorf("%w: neither SPDX, CycloneDX nor an in-toto statement", ErrUnsupportedFormat)
}

// wrapped parses an inner document and records the outermost envelope.
func wrapped(b []byte, depth int, envelope string) (*Document, error) {
	d, err := parseJSON(b, depth+1)
	if err != nil {
		return nil, err
	}
	d.Envelope = envelope
	return d, nil
}

func parseSPDX(b []byte) (*Document, error) {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				ReferenceType    string `json:"referenceType"`
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: SPDX: %w", ErrMalformed, err)
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("%w: SPDX version %s", ErrUnsupportedFormat, doc.SPDXVersion)
	}
	d := &Document{Format: SPDX, SpecVersion: doc.SPDXVersion, Packages: []Package{}}
	for _, p := range doc.Packages {
		pkg := Package{Name: p.Name, Version: p.VersionInfo}
		for _, ref := range p.ExternalRefs {
			if ref.ReferenceType == "purl" {
				pkg.PURL = ref.ReferenceLocator
				break
			}
		}
		d.Packages = append(d.Packages, pkg)
	}
	return d, nil
}

type cdxComponent struct {
	Name       string          `json:"name"`
	Group      string          `json:"group"`
	Version    string          `json:"version"`
	PURL       string          `json:"purl"`
	Components json.RawMessage `json:"components"`
}

func parseCycloneDX(b []byte) (*Document, error) {
	var doc struct {
		SpecVersion string          `json:"specVersion"`
		Components  json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: CycloneDX: %w", ErrMalformed, err)
	}
	switch doc.SpecVersion {
	case "1.2", "1.3", "1.4", "1.5", "1.6", "1.7":
	default:
		return nil, fmt.Errorf("%w: CycloneDX spec version %q", ErrUnsupportedFormat, doc.SpecVersion)
	}
	d := &Document{Format: CycloneDX, SpecVersion: doc.SpecVersion, Packages: []Package{}}
	if err := d.addComponents(doc.Components, 0); err != nil {
		return nil, err
	}
	return d, nil
}

// addComponents appends components and their nested components; nesting
// is decoded level by level so its depth stays bounded.
func (d *Document) addComponents(raw json.RawMessage, depth int) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if depth > maxNesting {
		return fmt.Errorf("%w: CycloneDX components nested deeper than %d", ErrMalformed, maxNesting)
	}
	var cs []cdxComponent
	if err := json.Unmarshal(raw, &cs); err != nil {
		return fmt.Errorf("%w: CycloneDX components: %w", ErrMalformed, err)
	}
	for _, c := range cs {
		name := c.Name
		if c.Group != "" && c.PURL == "" {
			name = c.Group + "/" + c.Name
		}
		d.Packages = append(d.Packages, Package{Name: name, Version: c.Version, PURL: c.PURL})
		if err := d.addComponents(c.Components, depth+1); err != nil {
			return err
		}
	}
	return nil
}
