#!/bin/sh
# The shards, then the merge: Kubernetes has no dependency between Jobs, so this waits for the first to complete.
set -eu
cd "$(dirname "$0")"
kubectl delete job dcm2fhir-shards dcm2fhir-merge --ignore-not-found
kubectl apply -f shards.yaml
kubectl wait --for=condition=complete --timeout=48h job/dcm2fhir-shards
kubectl apply -f merge.yaml
kubectl wait --for=condition=complete --timeout=12h job/dcm2fhir-merge
