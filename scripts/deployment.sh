# Sourced by soak.sh and loadtest.sh, from the repository's root: the
# purposes, the acme-cam notice and four API clients, written through the
# CLI before any instance serves (the caller sets CONSENTRY_DB or
# CONSENTRY_DATA_DIR). prepare_deployment NAME sets ADMIN, APP, SERVICE
# and AUDITOR to the tokens of new clients named after NAME.
prepare_deployment() {
	./bin/consentry purposes load notices/purposes.yaml >/dev/null
	./bin/consentry notices publish notices/acme-cam >/dev/null
	ADMIN=$(./bin/consentry clients create --name "$1-admin" --role admin)
	APP=$(./bin/consentry clients create --name "$1-app" --role app)
	# The data policy's rules name this service.
	SERVICE=$(./bin/consentry clients create --name service-client --role service)
	AUDITOR=$(./bin/consentry clients create --name "$1-auditor" --role auditor)
}
