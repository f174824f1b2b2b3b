// pss-check evaluates every pod template in rendered Kubernetes manifests against a
// Pod Security Standards level, offline, with the upstream admission library
// (k8s.io/pod-security-admission, the code the API server runs), and can dump the
// documents as one JSON array for further checks (tests/unit/test_k8s_manifests.py).
//
//	pss-check [-level restricted] [-version v1.33] [-json OUT] FILE...
//
// Exit status: 0 all allowed, 1 some pod template forbidden, 2 unreadable input.
// Part of Zettaledger (Apache-2.0); see k8s/validation/README.md.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

type header struct {
	Kind     string            `json:"kind"`
	Metadata metav1.ObjectMeta `json:"metadata"`
}

// chPodTemplates holds the pod templates of an Altinity ClickHouseInstallation or
// ClickHouseKeeperInstallation (spec.templates.podTemplates[].spec is a PodSpec).
type chPodTemplates struct {
	Spec struct {
		Templates struct {
			PodTemplates []struct {
				Name     string            `json:"name"`
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     corev1.PodSpec    `json:"spec"`
			} `json:"podTemplates"`
		} `json:"templates"`
	} `json:"spec"`
}

// podOf returns the pod metadata and spec a workload kind creates, or nil for other kinds.
func podOf(kind string, doc []byte) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	switch kind {
	case "Pod":
		var o corev1.Pod
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.ObjectMeta, &o.Spec, err
	case "Deployment":
		var o appsv1.Deployment
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, err
	case "StatefulSet":
		var o appsv1.StatefulSet
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, err
	case "DaemonSet":
		var o appsv1.DaemonSet
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, err
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, err
	case "Job":
		var o batchv1.Job
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, err
	case "CronJob":
		var o batchv1.CronJob
		err := yaml.UnmarshalStrict(doc, &o)
		return &o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec, err
	}
	return nil, nil, nil
}

func main() {
	level := flag.String("level", "restricted", "privileged, baseline or restricted")
	version := flag.String("version", "latest", "policy version, e.g. v1.33 or latest")
	jsonOut := flag.String("json", "", "also write every document, as a JSON array, to this file")
	flag.Parse()
	lv, err := api.ParseLevel(*level)
	check(err)
	ver, err := api.ParseVersion(*version)
	check(err)
	eval, err := policy.NewEvaluator(policy.DefaultChecks())
	check(err)
	var all []json.RawMessage
	pods, forbidden := 0, 0
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		check(err)
		r := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			check(err)
			j, err := yaml.YAMLToJSON(doc)
			check(err)
			if string(j) == "null" {
				continue
			}
			all = append(all, j)
			var h header
			check(json.Unmarshal(j, &h))
			type pod struct {
				name string
				meta *metav1.ObjectMeta
				spec *corev1.PodSpec
			}
			var found []pod
			if h.Kind == "ClickHouseInstallation" || h.Kind == "ClickHouseKeeperInstallation" {
				// The operator adds containers of its own; what we write must still be restricted.
				var o chPodTemplates
				check(yaml.Unmarshal(doc, &o))
				for i := range o.Spec.Templates.PodTemplates {
					t := &o.Spec.Templates.PodTemplates[i]
					found = append(found, pod{h.Metadata.Name + " podTemplate " + t.Name, &t.Metadata, &t.Spec})
				}
			} else {
				meta, spec, err := podOf(h.Kind, doc)
				if err != nil {
					check(fmt.Errorf("%s: %s %s: %w", path, h.Kind, h.Metadata.Name, err))
				}
				if spec != nil {
					found = append(found, pod{h.Metadata.Name, meta, spec})
				}
			}
			for _, p := range found {
				pods++
				res := policy.AggregateCheckResults(eval.EvaluatePod(api.LevelVersion{Level: lv, Version: ver}, p.meta, p.spec))
				if res.Allowed {
					fmt.Printf("%s - %s %s: PSS %s (%s) allowed\n", path, h.Kind, p.name, lv, ver)
				} else {
					forbidden++
					fmt.Printf("%s - %s %s: PSS %s (%s) FORBIDDEN: %s\n", path, h.Kind, p.name, lv, ver, res.ForbiddenDetail())
				}
			}
		}
		f.Close()
	}
	if *jsonOut != "" {
		out, err := json.Marshal(all)
		check(err)
		check(os.WriteFile(*jsonOut, out, 0o644))
	}
	fmt.Printf("PSS %s (%s): %d pod templates, %d forbidden, %d documents\n", lv, ver, pods, forbidden, len(all))
	if forbidden > 0 {
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pss-check:", err)
		os.Exit(2)
	}
}
