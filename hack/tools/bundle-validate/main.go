// Command bundle-validate checks an OLM bundle folder with operator-framework/api's validators,
// the same library `operator-sdk bundle validate` runs: the default bundle validators (CSV, CRDs,
// bundle) plus the optional OperatorHub suite (OperatorHub v2, standard capabilities and
// categories), good practices, object checks and removed-API checks for a Kubernetes version.
//
//	bundle-validate [--k8s-version 1.34] BUNDLE_DIR
//
// Prints one line per finding ("ERROR ..." or "WARN ...") and exits 1 when any error was found.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
)

func main() {
	k8sVersion := flag.String("k8s-version", "", "Kubernetes minor version to check for removed APIs, e.g. 1.34")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bundle-validate [--k8s-version 1.34] BUNDLE_DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	bundle, err := manifests.GetBundleFromDir(dir)
	if err != nil {
		fmt.Printf("ERROR loading bundle from %s: %v\n", dir, err)
		os.Exit(1)
	}

	validators := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.ObjectValidator,
		validation.GoodPracticesValidator,
		validation.AlphaDeprecatedAPIsValidator,
	)
	objs := bundle.ObjectsToValidate()
	objs = append(objs, map[string]string{"k8s-version": *k8sVersion})
	failed := false
	for _, result := range validators.Validate(objs...) {
		for _, e := range result.Errors {
			failed = true
			fmt.Printf("ERROR %s: %s\n", result.Name, describe(e))
		}
		for _, w := range result.Warnings {
			fmt.Printf("WARN %s: %s\n", result.Name, describe(w))
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("OK bundle %s (%s) passed\n", bundle.Name, dir)
}

func describe(e errors.Error) string {
	return fmt.Sprintf("[%s] %s", e.Type, e.Error())
}
