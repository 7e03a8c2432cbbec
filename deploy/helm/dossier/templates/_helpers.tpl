{{- define "dossier.name" -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{- define "dossier.labels" -}}
app.kubernetes.io/name: dossier
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dossier.selector" -}}
app.kubernetes.io/name: dossier
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* the image, by digest when one is given */}}
{{- define "dossier.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "dossier.tlsSecret" -}}
{{- if .Values.tls.generate -}}{{ include "dossier.name" . }}-tls{{- else -}}{{ required "tls.existingSecret is required when tls.generate is false" .Values.tls.existingSecret }}{{- end -}}
{{- end -}}
