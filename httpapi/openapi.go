package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// openapiJSON is the hand-written OpenAPI 3.1 document of this API. Tests
// check that it describes every route and validate real responses
// against it.
//
//go:embed openapi.json
var openapiJSON []byte

// OpenAPI returns the OpenAPI document served at /api/openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openapiJSON...) }

// openAPIDocument checks that the embedded document is well-formed JSON
// of OpenAPI 3.1, so that a broken edit fails at startup, not in a client.
func openAPIDocument() ([]byte, error) {
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		return nil, fmt.Errorf("httpapi: openapi.json: %w", err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
		return nil, fmt.Errorf("httpapi: openapi.json is not an OpenAPI 3.1.0 document with paths")
	}
	return openapiJSON, nil
}
