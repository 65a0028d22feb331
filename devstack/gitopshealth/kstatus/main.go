// kstatus: what Flux, kpt and cli-utils say about objects' health, by the real library
// (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute). Reads a JSON array of objects on stdin and prints a JSON
// array of {"status": ..., "message": ...} in the same order; an object the library cannot judge gives
// {"error": ...}.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	var raw []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: stdin is not a JSON array of objects: %v\n", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, 0, len(raw))
	for _, document := range raw {
		// As the apiserver's objects reach the library: integers as int64 (apimachinery's JSON rules).
		var object map[string]interface{}
		if err := utiljson.Unmarshal(document, &object); err != nil {
			verdicts = append(verdicts, verdict{Error: err.Error()})
			continue
		}
		result, err := status.Compute(&unstructured.Unstructured{Object: object})
		if err != nil {
			verdicts = append(verdicts, verdict{Error: err.Error()})
			continue
		}
		verdicts = append(verdicts, verdict{Status: result.Status.String(), Message: result.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		os.Exit(1)
	}
}
