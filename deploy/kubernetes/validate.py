"""Checks the rendered overlays (called by check.sh, run by the venv's python).

    validate.py RENDERED_DIR CONFIG_OUT_DIR REPO_ROOT

RENDERED_DIR holds one `<overlay>.yaml` per overlay (`kubectl kustomize`
output). For each overlay it

- validates every object offline against the Kubernetes schemas of
  SCHEMA_VERSIONS (strict: an unknown field is an error), with
  `kubernetes-validate`; the Prometheus Operator kinds, which no schema set
  has, get the field checks of `check_pod_monitor`;
- checks what the manifests promise: no namespace, a PodDisruptionBudget
  and a NetworkPolicy selecting the pods, the admin port reachable only
  from a namespace selector and in no Service, dependencies behind headless
  Services, the sidecar form and the shutdown hooks the overlay stands for,
  image tags equal to the crate version, and resources that follow from
  benches/RESULTS.md, with a memory limit covering the bound sizing.py
  computes from the embedded seawall config;
- writes each embedded seawall config to CONFIG_OUT_DIR as
  `<overlay>--<configmap>.yaml`, for check.sh to run `seawall check` on.

Exits 1 after printing every problem found.
"""

import ipaddress
import re
import sys
from pathlib import Path

import kubernetes_validate
import yaml

from sizing import REQUEST_CONNECTIONS, measured_figures, memory_bound_mib, quantity_mib

# Every overlay is validated against these; `classic`, the form for older
# clusters, also against the oldest schema kubernetes-validate ships.
SCHEMA_VERSIONS = ["1.28.0", "1.29.0", "1.31.0"]
EXTRA_VERSIONS = {"classic": ["1.25.0"]}

# The sidecar form each shipped overlay stands for (others are inferred).
FORMS = {"native-sidecar": "native", "classic": "classic", "prometheus-operator": "native"}

SIDECAR = "seawall"
APP_LABEL = "app.kubernetes.io/name"

# Kinds no schema set has: checked field by field here instead.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "ServiceMonitor")}

problems = []


def problem(overlay, message):
    problems.append(f"{overlay}: {message}")


def kind_name(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def selects(selector, labels):
    """True when a matchLabels selector selects `labels` (and is not empty)."""
    match = (selector or {}).get("matchLabels") or {}
    if (selector or {}).get("matchExpressions"):
        return False
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def container_ports(pod):
    ports = {}
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for p in c.get("ports", []):
            if "name" in p:
                ports[p["name"]] = (c["name"], p["containerPort"])
    return ports


def schema_check(overlay, docs):
    versions = SCHEMA_VERSIONS + EXTRA_VERSIONS.get(overlay, [])
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in CUSTOM_KINDS:
            continue
        for v in versions:
            try:
                kubernetes_validate.validate(doc, v, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                problem(overlay, f"{kind_name(doc)}: no schema for {key} in Kubernetes {v}")
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                problem(overlay, f"{kind_name(doc)}: Kubernetes {v}: {path}: {e.message}")
    return versions


def find_sidecar(overlay, pod):
    in_main = [c for c in pod.get("containers", []) if c["name"] == SIDECAR]
    in_init = [c for c in pod.get("initContainers", []) if c["name"] == SIDECAR]
    if len(in_main) + len(in_init) != 1:
        problem(overlay, f"expected one `{SIDECAR}` container, found {len(in_main) + len(in_init)}")
        return None, None
    if in_init:
        return in_init[0], "native"
    return in_main[0], "classic"


def check_hooks(overlay, pod, sidecar, form):
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for hook in ("preStop", "postStart"):
            handler = (c.get("lifecycle") or {}).get(hook) or {}
            if "sleep" in handler:
                problem(overlay, f"container {c['name']}: {hook}.sleep needs Kubernetes >= 1.30")
    if (sidecar.get("lifecycle") or {}).get("preStop"):
        problem(overlay, "seawall has a preStop hook: its scratch image has nothing to run in one")
    for c in pod.get("containers", []):
        if c["name"] != SIDECAR and not (c.get("lifecycle") or {}).get("preStop"):
            problem(overlay, f"container {c['name']}: no app-side preStop pause")
    if form == "native":
        if sidecar.get("restartPolicy") != "Always":
            problem(overlay, "seawall is an init container without restartPolicy: Always")
        probe = (sidecar.get("startupProbe") or {}).get("httpGet") or {}
        if probe.get("path") != "/live":
            problem(overlay, "native sidecar: needs a startupProbe on /live (so the app starts after seawall)")
    for c in pod.get("initContainers", []):
        if form == "classic" and c.get("restartPolicy"):
            problem(overlay, f"classic form: init container {c['name']} has restartPolicy (needs >= 1.29)")


def check_network_policy(overlay, docs, labels, ports):
    policies = [d for d in docs if d["kind"] == "NetworkPolicy" and selects(d["spec"].get("podSelector"), labels)]
    if not policies:
        problem(overlay, "no NetworkPolicy selects the pods")
        return
    admin = ports.get("admin", (None, None))[1]
    for pol in policies:
        spec = pol["spec"]
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            problem(overlay, f"{kind_name(pol)}: does not restrict ingress")
        for i, rule in enumerate(spec.get("ingress", [])):
            rule_ports = rule.get("ports")
            if not rule_ports:
                problem(overlay, f"{kind_name(pol)}: ingress[{i}] admits every port")
                continue
            for p in rule_ports:
                name = p.get("port")
                number = ports.get(name, (None, name))[1] if isinstance(name, str) else name
                if name not in ("http", "admin") and number not in (ports.get("http", (0, 0))[1], admin):
                    problem(overlay, f"{kind_name(pol)}: ingress[{i}] admits port {name}, not seawall's")
                if number == admin:
                    peers = rule.get("from") or []
                    only_ns = peers and all(set(f) <= {"namespaceSelector", "podSelector"}
                                            and (f.get("namespaceSelector") or {}).get("matchLabels") for f in peers)
                    if not only_ns:
                        problem(overlay, f"{kind_name(pol)}: ingress[{i}] admits the admin port from "
                                         "more than a namespace selector")


def check_port_names(overlay, docs, pod):
    """Named ports of init containers (a native sidecar's) are not resolved by
    Services before Kubernetes 1.32, nor by some NetworkPolicy plugins."""
    init_names = {p["name"] for c in pod.get("initContainers", []) for p in c.get("ports", []) if "name" in p}
    for doc in docs:
        if doc["kind"] == "Service":
            used = [p.get("targetPort") for p in doc["spec"].get("ports", [])]
        elif doc["kind"] == "NetworkPolicy":
            used = [p.get("port") for r in doc["spec"].get("ingress", []) for p in r.get("ports") or []]
        else:
            continue
        for name in used:
            if name in init_names:
                problem(overlay, f"{kind_name(doc)}: port `{name}` is a named port of an init container; "
                                 "use its number")


def check_pdb(overlay, docs, labels):
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget" and selects(d["spec"].get("selector"), labels)]
    if not pdbs:
        problem(overlay, "no PodDisruptionBudget selects the pods")
    for pdb in pdbs:
        if pdb["apiVersion"] != "policy/v1":
            problem(overlay, f"{kind_name(pdb)}: use policy/v1")


def check_services(overlay, docs, labels, ports):
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    admin = ports.get("admin", (None, None))[1]
    for svc in services.values():
        for p in svc["spec"].get("ports", []):
            target = p.get("targetPort", p.get("port"))
            if target in ("admin", admin):
                problem(overlay, f"{kind_name(svc)}: exposes the admin port")
    if not any(s["spec"].get("clusterIP") == "None" and s["spec"].get("selector", {}).items() <= labels.items()
               for s in services.values()):
        problem(overlay, "no headless Service (clusterIP: None) for the pods' callers")
    return services


def check_config(overlay, config, services, sidecar, pod, ports):
    """The embedded seawall config against the manifests around it."""
    admin = config.get("admin") or {}
    admin_port = int(str(admin.get("address", "127.0.0.1:9901")).rsplit(":", 1)[1])
    if ports.get("admin", (None, None))[1] != admin_port:
        problem(overlay, f"admin.address port {admin_port} is not the container port named `admin`")
    token_file = admin.get("token_file")
    if not token_file and not admin.get("token_env"):
        problem(overlay, "admin port on the pod network without admin.token_file/token_env")
    if token_file:
        mounts = {m["name"]: m["mountPath"] for m in sidecar.get("volumeMounts", [])}
        secrets = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        if not any(str(Path(token_file).parent) == path and name in secrets for name, path in mounts.items()):
            problem(overlay, f"admin.token_file {token_file} is not in a mounted Secret")
    for cluster in config.get("clusters", []):
        for endpoint in cluster.get("endpoints", []):
            host, port = str(endpoint).rsplit(":", 1)
            try:
                ipaddress.ip_address(host.strip("[]"))
                continue
            except ValueError:
                pass
            svc = services.get(host.split(".")[0])
            if svc is None:
                continue  # a dependency outside these manifests
            if svc["spec"].get("clusterIP") != "None":
                problem(overlay, f"cluster {cluster['name']}: {host} is a ClusterIP Service (one virtual IP, "
                                 "one endpoint); use a headless one")
            targets = set()
            for p in svc["spec"].get("ports", []):
                t = p.get("targetPort", p.get("port"))
                targets.add(ports.get(t, (None, t))[1] if isinstance(t, str) else t)
            if int(port) not in targets:
                problem(overlay, f"cluster {cluster['name']}: {endpoint}: a headless Service does no port "
                                 f"mapping; use the pods' port ({sorted(targets)})")


def check_resources(overlay, sidecar, config, root):
    cpu, idle, per_conn = measured_figures(root)
    text = (root / "deploy/kubernetes/base/deployment.yaml").read_text()
    m = re.search(r"measured: cpu_us_per_request=([\d.]+) idle_rss_mib=([\d.]+) kib_per_connection=([\d.]+)", text)
    if not m:
        problem(overlay, "base/deployment.yaml lacks the `measured:` line of the resource arithmetic")
        return
    quoted = tuple(float(x) for x in m.groups())
    if quoted != (cpu, idle, per_conn):
        problem(overlay, f"resources quote {quoted} (CPU µs/req, idle MiB, KiB/conn) but benches/RESULTS.md "
                         f"says {(cpu, idle, per_conn)}: redo the arithmetic in base/deployment.yaml")
    res = sidecar.get("resources") or {}
    request = quantity_mib(res.get("requests", {}).get("memory", 0))
    limit = quantity_mib(res.get("limits", {}).get("memory", 0))
    if request < idle + REQUEST_CONNECTIONS * per_conn / 1024:
        problem(overlay, f"memory request {request:.1f} MiB is below idle + {REQUEST_CONNECTIONS} connections")
    bound = memory_bound_mib(config, idle, per_conn)
    if limit < bound:
        problem(overlay, f"memory limit {limit:.0f} MiB is below the bound seawall.yaml allows, {bound:.1f} MiB")
    if "cpu" in res.get("limits", {}):
        problem(overlay, "seawall has a CPU limit (throttling turns into tail latency)")
    return bound


def check_pod_monitor(overlay, doc, labels, ports):
    """Fields of a Prometheus Operator PodMonitor/ServiceMonitor we use, and where they point."""
    spec = doc.get("spec") or {}
    allowed_spec = {"selector", "namespaceSelector", "podMetricsEndpoints", "endpoints", "jobLabel",
                    "podTargetLabels", "targetLabels", "sampleLimit"}
    for key in set(spec) - allowed_spec:
        problem(overlay, f"{kind_name(doc)}: spec.{key} is not a field this check knows")
    if not selects(spec.get("selector"), labels):
        problem(overlay, f"{kind_name(doc)}: its selector does not select the pods")
    if doc["kind"] == "ServiceMonitor":
        problem(overlay, f"{kind_name(doc)}: a ServiceMonitor needs a Service with the admin port; use a PodMonitor")
        return
    endpoints = spec.get("podMetricsEndpoints") or []
    if not endpoints:
        problem(overlay, f"{kind_name(doc)}: no podMetricsEndpoints")
    allowed = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels", "relabelings",
               "metricRelabelings"}
    for i, ep in enumerate(endpoints):
        for key in set(ep) - allowed:
            problem(overlay, f"{kind_name(doc)}: podMetricsEndpoints[{i}].{key} is not a field this check knows")
        if ports.get(ep.get("port"), (None,))[0] != SIDECAR or ep.get("port") != "admin":
            problem(overlay, f"{kind_name(doc)}: podMetricsEndpoints[{i}].port must be seawall's `admin` port")
        if ep.get("path", "/metrics") != "/metrics":
            problem(overlay, f"{kind_name(doc)}: podMetricsEndpoints[{i}].path: seawall serves /metrics")
        for key in ("interval", "scrapeTimeout"):
            if key in ep and not re.fullmatch(r"(\d+(ms|s|m|h))+", str(ep[key])):
                problem(overlay, f"{kind_name(doc)}: podMetricsEndpoints[{i}].{key}: not a duration")


def check_images(overlay, pod, root):
    cargo = (root / "Cargo.toml").read_text()
    version = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', cargo, re.M | re.S).group(1)
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        image = c["image"]
        if image.startswith(("seawall/seawall:", "seawall/upstream:")) and image.rsplit(":", 1)[1] != version:
            problem(overlay, f"container {c['name']}: {image} is not the crate version {version}")


def check_overlay(overlay, docs, out_dir, root):
    for doc in docs:
        if doc.get("metadata", {}).get("namespace"):
            problem(overlay, f"{kind_name(doc)}: hard-codes namespace {doc['metadata']['namespace']}")
    versions = schema_check(overlay, docs)
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    if len(deployments) != 1:
        problem(overlay, f"expected one Deployment, found {len(deployments)}")
        return versions, []
    template = deployments[0]["spec"]["template"]
    pod, labels = template["spec"], template["metadata"].get("labels", {})
    ports = container_ports(pod)
    sidecar, form = find_sidecar(overlay, pod)
    if sidecar is None:
        return versions, []
    expected = FORMS.get(overlay)
    if expected and expected != form:
        problem(overlay, f"seawall is in the {form} form; this overlay stands for the {expected} form")
    check_hooks(overlay, pod, sidecar, form)
    check_network_policy(overlay, docs, labels, ports)
    check_pdb(overlay, docs, labels)
    check_port_names(overlay, docs, pod)
    services = check_services(overlay, docs, labels, ports)
    check_images(overlay, pod, root)
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
            check_pod_monitor(overlay, doc, labels, ports)
    mounted = {v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    written = []
    for cm in (d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in mounted):
        text = (cm.get("data") or {}).get("seawall.yaml")
        if text is None:
            continue
        config = yaml.safe_load(text)
        check_config(overlay, config, services, sidecar, pod, ports)
        bound = check_resources(overlay, sidecar, config, root)
        path = out_dir / f"{overlay}--{cm['metadata']['name']}.yaml"
        path.write_text(text)
        written.append(path)
        if bound:
            print(f"  {overlay}: memory bound from seawall.yaml {bound:.1f} MiB "
                  f"<= limit {sidecar['resources']['limits']['memory']}")
    if not written:
        problem(overlay, "no ConfigMap with a seawall.yaml is mounted")
    print(f"  {overlay}: {len(docs)} objects, {form} sidecar, schemas "
          + ", ".join(v.rsplit(".", 1)[0] for v in versions)
          + "; NetworkPolicy, PodDisruptionBudget, headless Service present")
    return versions, written


def main():
    rendered, out_dir, root = (Path(a) for a in sys.argv[1:4])
    out_dir.mkdir(parents=True, exist_ok=True)
    overlays = sorted(rendered.glob("*.yaml"))
    if not overlays:
        raise SystemExit(f"no rendered overlays in {rendered}")
    for f in overlays:
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
        check_overlay(f.stem, docs, out_dir, root)
    if problems:
        print("\n".join(f"FAIL {p}" for p in problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
