#!/usr/bin/env bash
# Renders deploy/kubernetes/dossier.yaml, the plain manifests, from the Helm
# chart: namespace dossier, the serving certificate from a Secret you make,
# the webhook configurations made by `dossier webhook install`. A test
# fails when the file and the chart disagree.
set -euo pipefail
cd "$(dirname "$0")/../.."
helm=${HELM:-helm}
{
  cat <<'YAML'
# dossier serve with the admission webhook, rendered from deploy/helm/dossier
# by deploy/kubernetes/render.sh: do not edit. Before applying it:
#   kubectl create namespace dossier
#   kubectl -n dossier create secret generic dossier-store --from-literal=url=postgres://…
#   dossier webhook certificate --host dossier.dossier.svc --out-dir certs
#   kubectl -n dossier create secret tls dossier-tls --cert certs/tls.crt --key certs/tls.key
# then, once the pods are ready:
#   dossier webhook install --namespace dossier --service dossier --port 9443 --ca-bundle certs/ca.crt --apply
YAML
  "$helm" template dossier deploy/helm/dossier --namespace dossier \
    --set tls.generate=false --set tls.existingSecret=dossier-tls --set webhook.configure=false
} > deploy/kubernetes/dossier.yaml
