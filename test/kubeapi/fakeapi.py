#!/usr/bin/env python3
"""A loopback HTTPS server that follows the Kubernetes API's semantics for what aimguard
uses, for tests. Run: fakeapi.py --cert C --key K --token T  (prints "PORT <n>" when ready).

What it models:
- resource paths /api/v1/... and /apis/<group>/<version>/..., namespaced
  (/namespaces/<ns>/<plural>[/<name>[/status]]) and cluster-scoped resources, from the
  RESOURCES table below;
- a global resourceVersion bumped on every write; metadata.uid, creationTimestamp,
  generation (bumped when anything but metadata/status changes);
- GET, list (labelSelector with equality only, fieldSelector on metadata.name and
  metadata.namespace, limit/continue; a watch filters by fieldSelector too), POST (409 AlreadyExists),
  PUT (409 Conflict on a stale resourceVersion; the main resource ignores status, the
  /status subresource changes only status), PATCH (application/merge-patch+json RFC 7386,
  application/json-patch+json RFC 6902), DELETE; errors as metav1.Status bodies (404,
  409, 410, 422);
- watch (?watch=1&resourceVersion=&allowWatchBookmarks=true&timeoutSeconds=): chunked,
  one JSON event per line (ADDED, MODIFIED, DELETED, BOOKMARK), 410 Expired when the
  resourceVersion is older than the compaction point, ended cleanly after timeoutSeconds;
- SubjectAccessReview (POST /apis/authorization.k8s.io/v1/subjectaccessreviews) answered
  from rules set through the admin endpoint: the first rule whose "user" is the review's
  user (or "*") and whose optional "verb", "resource", "name" and "group" (a group the
  user is in) all match answers; a rule with "namespace" is a RoleBinding's grant and
  answers only a review whose resourceAttributes.namespace is that namespace (as the
  real RBAC authorizer: without a namespace only ClusterRoleBindings count); no rule:
  denied, reason "no rule";
- counters: GET /_admin (no token needed) answers {"sar_count": N, "sar_requests": [the
  spec of each SubjectAccessReview received, oldest first, at most 200]};
  POST /_admin {"reset_counters": true} zeroes them;
- owner-reference garbage collection: deleting an object deletes, recursively, every
  object whose metadata.ownerReferences names its uid (unless propagationPolicy is
  Orphan), and an object created with an owner that does not exist is deleted right
  after its creation. The real collector does this asynchronously; here it happens at once;
- counters of what clients sent: GET /_admin/stats answers {"writes": {"POST
  aimservices": N, ...}, "total_writes": N, "reads": N, "read_kinds": {"GET aimservices": N,
  "LIST jobs": N, "WATCH jobs": N, ...}} (writes are POST/PUT/PATCH/
  DELETE on resources, SubjectAccessReviews not included); POST /_admin
  {"reset_stats": true} zeroes them;
- discovery: GET /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version> answer
  APIVersions, APIGroupList, APIGroup and APIResourceList documents for the RESOURCES
  table (one version per group, the preferred one; verbs get, list, watch, create,
  update, patch, delete);
- bearer-token authentication (401 otherwise);
- faults through POST /_admin: {"compact": true}, {"error_500": N}, {"stall_seconds": S},
  {"drop_watches": true}, {"cut_watches": true} (open watches send half an event and
  the connection closes without ending the chunked stream), {"sar_rules": [{"user": U, "allowed": bool, "reason": R}]},
  {"token": T} (the token it accepts from now on: a rotation),
  {"bookmarks": false} (idle watches send nothing at all, as a real server may for
  minutes; GET /_admin lists "watch_requests": resource, resourceVersion and
  timeoutSeconds of each watch, the last 500),
  {"churn": {"namespace": N, "count": C}} (C label edits of a namespace: a watch load),
  {"garbage": N} (the next N answers are truncated JSON),
  {"unserved": [PLURAL, ...]} (those resources answer 404, as a CRD not installed),
  {"typed_list_items": false} (list items without apiVersion and kind, as a real API
  server sends built-in kinds; watch events keep them),
  {"bulk": [[COLLECTION_PATH, OBJECT], ...]} (objects created as by POST, without a
  request each: benchmarks load thousands at once).
What it does not model: admission, defaulting, validation beyond names, field
selectors beyond metadata.name/namespace, set-based label selectors, server-side apply, finalizers (deletes are
immediate), resourceVersionMatch, HTTP/2, authorization
(every authenticated request may do anything).
"""
import argparse
import bisect
import json
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jsonpatch  # Debian python3-jsonpatch

# (group, version, plural) -> (kind, namespaced)
RESOURCES = {
    ("", "v1", "namespaces"): ("Namespace", False),
    ("", "v1", "pods"): ("Pod", True),
    ("", "v1", "configmaps"): ("ConfigMap", True),
    ("", "v1", "secrets"): ("Secret", True),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True),
    ("", "v1", "events"): ("Event", True),
    ("", "v1", "persistentvolumeclaims"): ("PersistentVolumeClaim", True),
    ("apps", "v1", "deployments"): ("Deployment", True),
    ("batch", "v1", "jobs"): ("Job", True),
    ("coordination.k8s.io", "v1", "leases"): ("Lease", True),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"): ("RoleBinding", True),
    ("networking.k8s.io", "v1", "networkpolicies"): ("NetworkPolicy", True),
    ("serving.kserve.io", "v1beta1", "inferenceservices"): ("InferenceService", True),
    ("gateway.networking.k8s.io", "v1", "httproutes"): ("HTTPRoute", True),
    # the PolicyReport CRDs deploy/ installs (background audit)
    ("wgpolicyk8s.io", "v1alpha2", "policyreports"): ("PolicyReport", True),
    ("wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports"): ("ClusterPolicyReport", False),
}
for plural, kind, ns in [("aimservices", "AIMService", True), ("aimmodels", "AIMModel", True),
                         ("aimclustermodels", "AIMClusterModel", False),
                         ("aimservicetemplates", "AIMServiceTemplate", True),
                         ("aimclusterservicetemplates", "AIMClusterServiceTemplate", False),
                         ("aimtemplatecaches", "AIMTemplateCache", True), ("aimartifacts", "AIMArtifact", True),
                         ("aimruntimeconfigs", "AIMRuntimeConfig", True),
                         ("aimclusterruntimeconfigs", "AIMClusterRuntimeConfig", False),
                         ("aimclustermodelsources", "AIMClusterModelSource", False)]:
    RESOURCES[("aim.eai.amd.com", "v1alpha1", plural)] = (kind, ns)


class Store:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 100
        self.objects = {}       # (g, v, plural, ns, name) -> obj
        self.events = {}        # (g, v, plural) -> [(rv, ns, type, obj)], in rv order
        self.compacted = 0
        self.error_500 = 0
        self.stall = 0.0
        self.drop_watches = 0   # generation counter: watches end when it changes
        self.cut_watches = 0    # generation counter: watches break mid-event when it changes
        self.sar_rules = []
        self.garbage = 0        # answers left to send as broken JSON
        self.writes = {}        # "METHOD plural" -> count
        self.reads = 0
        self.read_kinds = {}    # "GET|LIST|WATCH plural" -> count
        self.bookmarks = True   # {"bookmarks": false}: idle watches send nothing
        self.typed_list_items = True  # {"typed_list_items": false}: list items as a real server's
        self.unserved = set()   # {"unserved": [plural, ...]}: 404 as for a CRD not installed
        self.watch_requests = []  # resource, resourceVersion, timeoutSeconds of each watch
        self.sar_count = 0      # SubjectAccessReviews answered (GET /_admin)
        self.sar_requests = []  # their specs, the last 200

    def bump(self):
        self.rv += 1
        return str(self.rv)


STORE = Store()
TOKEN = None


def status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def parse_path(path):
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        ns, rest = rest[1], rest[2:]
    if not rest:
        return None
    plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    return group, version, plural, ns, name, sub


VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def discovery(path):
    """The discovery document at path, or None when path is not a discovery path."""
    parts = [p for p in path.split("/") if p]
    groups = {}
    for (g, v, plural), (kind, namespaced) in RESOURCES.items():
        groups.setdefault(g, {"version": v, "resources": []})["resources"].append(
            {"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": VERBS})

    def group_doc(g):
        gv = {"groupVersion": "%s/%s" % (g, groups[g]["version"]), "version": groups[g]["version"]}
        return {"name": g, "versions": [gv], "preferredVersion": gv}

    def resource_list(g, v):
        if g not in groups or groups[g]["version"] != v:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": ("%s/%s" % (g, v)) if g else v,
                "resources": groups[g]["resources"]}
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if len(parts) == 2 and parts[0] == "api":
        return resource_list("", parts[1]) or False
    if parts == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc(g) for g in sorted(groups) if g]}
    if len(parts) == 2 and parts[0] == "apis":
        return dict(group_doc(parts[1]), kind="APIGroup", apiVersion="v1") if parts[1] in groups else False
    if len(parts) == 3 and parts[0] == "apis":
        return resource_list(parts[1], parts[2]) or False
    return None


def matches_selector(obj, selector):
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in selector.split(","):
        k, _, v = term.partition("=")
        if labels.get(k.strip()) != v.strip():
            return False
    return True


def matches_fields(obj, selector):
    """fieldSelector with metadata.name / metadata.namespace equality terms (what a
    watch of one named object sends)."""
    if not selector:
        return True
    meta = obj.get("metadata", {})
    for term in selector.split(","):
        k, _, v = term.partition("=")
        field = {"metadata.name": "name", "metadata.namespace": "namespace"}.get(k.strip())
        if field is None or meta.get(field) != v.strip():
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (40 ms a request), as no real API server does
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def guard(self):
        if STORE.stall:
            time.sleep(STORE.stall)
        if not self.guard_checks():
            # a refused request's body is never read by its handler: drop the connection,
            # or the body would be parsed as the next request on it
            self.close_connection = True
            return False
        return True

    def guard_checks(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.send_json(*status(401, "Unauthorized", "Unauthorized"))
            return False
        with STORE.lock:
            if STORE.error_500 > 0:
                STORE.error_500 -= 1
                self.send_json(*status(500, "InternalError", "injected failure"))
                return False
            if STORE.garbage > 0:
                STORE.garbage -= 1
                data = b'{"kind": "NamespaceList", "items": [{"metadata": '
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return False
        return True

    def do_POST(self):
        global TOKEN
        u = urlparse(self.path)
        if u.path == "/_admin":
            cmd = json.loads(self.body() or b"{}")
            with STORE.lock:
                if cmd.get("compact"):
                    STORE.compacted = STORE.rv
                    STORE.events = {}
                if "error_500" in cmd:
                    STORE.error_500 = cmd["error_500"]
                if "stall_seconds" in cmd:
                    STORE.stall = cmd["stall_seconds"]
                if cmd.get("drop_watches"):
                    STORE.drop_watches += 1
                if cmd.get("cut_watches"):
                    STORE.cut_watches += 1
                    STORE.lock.notify_all()
                if "sar_rules" in cmd:
                    STORE.sar_rules = cmd["sar_rules"]
                if cmd.get("reset_counters"):
                    STORE.sar_count = 0
                    STORE.sar_requests = []
                if "token" in cmd:
                    TOKEN = cmd["token"]
                if "bookmarks" in cmd:
                    STORE.bookmarks = bool(cmd["bookmarks"])
                if "unserved" in cmd:
                    STORE.unserved = set(cmd["unserved"])
                if "typed_list_items" in cmd:
                    STORE.typed_list_items = bool(cmd["typed_list_items"])
                if cmd.get("reset_counters"):
                    STORE.watch_requests = []
                if "garbage" in cmd:
                    STORE.garbage = int(cmd["garbage"])
                if cmd.get("reset_stats"):
                    STORE.writes, STORE.reads, STORE.read_kinds = {}, 0, {}
                for path, obj in cmd.get("bulk", []):
                    g, v, plural, ns, _, _ = parse_path(path)
                    kind, namespaced = RESOURCES[(g, v, plural)]
                    meta = obj.setdefault("metadata", {})
                    meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "generation": 1, "resourceVersion": STORE.bump()})
                    if namespaced:
                        meta["namespace"] = ns
                    obj["apiVersion"], obj["kind"] = (g + "/" + v) if g else v, kind
                    key = (g, v, plural, ns if namespaced else None, meta["name"])
                    STORE.objects[key] = obj
                    record(key[:3], key[3], "ADDED", json.loads(json.dumps(obj)))
                if "churn" in cmd:  # {"churn": {"namespace": NAME, "count": N}}: N label edits
                    c = cmd["churn"]
                    key = ("", "v1", "namespaces", None, c["namespace"])
                    for i in range(int(c["count"])):
                        obj = json.loads(json.dumps(STORE.objects[key]))
                        obj["metadata"].setdefault("labels", {})["churn"] = str(i)
                        obj["metadata"]["resourceVersion"] = STORE.bump()
                        STORE.objects[key] = obj
                        record(key[:3], None, "MODIFIED", obj)
                STORE.lock.notify_all()
            return self.send_json(200, {"ok": True})
        if not self.guard():
            return
        if u.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews":
            sar = json.loads(self.body())
            spec = sar.get("spec", {})
            user = spec.get("user", "")
            attrs = spec.get("resourceAttributes", {})
            answer = {"allowed": False, "reason": "no rule"}
            with STORE.lock:
                STORE.sar_count += 1
                STORE.sar_requests = (STORE.sar_requests + [spec])[-200:]
                rules = list(STORE.sar_rules)
            for r in rules:
                if r.get("user") not in (user, "*"):
                    continue
                # "namespace": a RoleBinding's grant, seen only by a review that names it
                if any(k in r and r[k] != attrs.get(k, "") for k in ("verb", "resource", "name", "namespace")):
                    continue
                if "group" in r and r["group"] not in (spec.get("groups") or []):
                    continue
                answer = {"allowed": r["allowed"], "reason": r.get("reason", "")}
                break
            sar["status"] = answer
            return self.send_json(201, sar)
        self.write("POST", u)

    def do_PUT(self):
        if self.guard():
            self.write("PUT", urlparse(self.path))

    def do_PATCH(self):
        if self.guard():
            self.write("PATCH", urlparse(self.path))

    def do_DELETE(self):
        if self.guard():
            self.write("DELETE", urlparse(self.path))

    def write(self, method, u):
        p = parse_path(u.path)
        if not p or (p[0], p[1], p[2]) not in RESOURCES or p[2] in STORE.unserved:
            return self.send_json(*status(404, "NotFound", "the server could not find the requested resource"))
        g, v, plural, ns, name, sub = p
        kind, namespaced = RESOURCES[(g, v, plural)]
        raw = self.body()
        with STORE.lock:
            what = "%s %s%s" % (method, plural, "/" + sub if sub else "")
            STORE.writes[what] = STORE.writes.get(what, 0) + 1
            key = (g, v, plural, ns if namespaced else None, name)
            cur = STORE.objects.get(key)
            if method == "POST":
                obj = json.loads(raw)
                name = obj.get("metadata", {}).get("name")
                if not name:
                    return self.send_json(*status(422, "Invalid", "metadata.name: Required value"))
                key = (g, v, plural, ns if namespaced else None, name)
                if key in STORE.objects:
                    return self.send_json(*status(409, "AlreadyExists", '%s "%s" already exists' % (plural, name)))
                meta = obj.setdefault("metadata", {})
                meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "generation": 1, "resourceVersion": STORE.bump()})
                if namespaced:
                    meta["namespace"] = ns
                obj["apiVersion"], obj["kind"] = (g + "/" + v) if g else v, kind
                self.commit(key, obj, "ADDED", 201)
                # the garbage collector removes a dependent whose owner does not exist
                uids = {o["metadata"].get("uid") for o in STORE.objects.values()}
                if any(r.get("uid") not in uids for r in meta.get("ownerReferences", [])):
                    delete_object(key, cascade=True)
                    STORE.lock.notify_all()
                return None
            if cur is None:
                return self.send_json(*status(404, "NotFound", '%s "%s" not found' % (plural, name)))
            if method == "DELETE":
                q = {k2: v2[0] for k2, v2 in parse_qs(u.query).items()}
                opts = json.loads(raw) if raw else {}
                orphan = "Orphan" in (q.get("propagationPolicy"), opts.get("propagationPolicy"))
                gone = delete_object(key, cascade=not orphan)
                STORE.lock.notify_all()
                return self.send_json(200, gone)
            if method == "PUT":
                obj = json.loads(raw)
                rv = obj.get("metadata", {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    return self.send_json(*status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object '
                                                  'has been modified; please apply your changes to the latest version '
                                                  'and try again' % (plural, name)))
            else:
                ctype = self.headers.get("Content-Type", "")
                patch = json.loads(raw)
                base = json.loads(json.dumps(cur))
                try:
                    if ctype.startswith("application/json-patch+json"):
                        obj = jsonpatch.JsonPatch(patch).apply(base)
                    elif ctype.startswith("application/merge-patch+json"):
                        obj = merge(base, patch)
                    else:
                        return self.send_json(*status(415, "UnsupportedMediaType", "unsupported patch type " + ctype))
                except Exception as e:  # noqa: BLE001
                    return self.send_json(*status(422, "Invalid", "patch: %s" % e))
            new = json.loads(json.dumps(cur))
            if sub == "status":
                new["status"] = obj.get("status")
            else:
                for k, val in obj.items():
                    if k not in ("status", "metadata"):
                        new[k] = val
                for k in list(new):
                    if k not in obj and k not in ("status", "metadata", "apiVersion", "kind"):
                        del new[k]
                m = obj.get("metadata", {})
                for k in ("labels", "annotations", "ownerReferences", "finalizers"):
                    if k in m:
                        new["metadata"][k] = m[k]
                    elif k in new["metadata"]:
                        del new["metadata"][k]
                if {k: v2 for k, v2 in new.items() if k not in ("metadata", "status")} != \
                        {k: v2 for k, v2 in cur.items() if k not in ("metadata", "status")}:
                    new["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
            if new == cur:
                return self.send_json(200, cur)  # a no-op write bumps nothing
            new["metadata"]["resourceVersion"] = STORE.bump()
            return self.commit(key, new, "MODIFIED", 200)

    def commit(self, key, obj, typ, code):
        STORE.objects[key] = obj
        record(key[:3], key[3], typ, json.loads(json.dumps(obj)))
        STORE.lock.notify_all()
        return self.send_json(code, obj)

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/_admin/stats":
            with STORE.lock:
                return self.send_json(200, {"writes": dict(STORE.writes), "reads": STORE.reads,
                                            "read_kinds": dict(STORE.read_kinds),
                                            "total_writes": sum(STORE.writes.values())})
        if u.path == "/_admin":
            with STORE.lock:
                counters = {"sar_count": STORE.sar_count, "sar_requests": list(STORE.sar_requests),
                            "watch_requests": list(STORE.watch_requests)}
            return self.send_json(200, counters)
        if not self.guard():
            return
        with STORE.lock:
            STORE.reads += 1
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        doc = discovery(u.path)
        if doc is not None:
            with STORE.lock:
                STORE.read_kinds["DISCOVERY"] = STORE.read_kinds.get("DISCOVERY", 0) + 1
            if doc is False:
                return self.send_json(*status(404, "NotFound", "the server could not find the requested resource"))
            return self.send_json(200, doc)
        p = parse_path(u.path)
        if not p or (p[0], p[1], p[2]) not in RESOURCES or p[2] in STORE.unserved:
            return self.send_json(*status(404, "NotFound", "the server could not find the requested resource"))
        g, v, plural, ns, name, sub = p
        kind, namespaced = RESOURCES[(g, v, plural)]
        verb = "GET" if name else "WATCH" if q.get("watch") in ("1", "true") else "LIST"
        with STORE.lock:
            STORE.read_kinds[verb + " " + plural] = STORE.read_kinds.get(verb + " " + plural, 0) + 1
        if name:
            with STORE.lock:
                obj = STORE.objects.get((g, v, plural, ns if namespaced else None, name))
            if obj is None:
                return self.send_json(*status(404, "NotFound", '%s "%s" not found' % (plural, name)))
            return self.send_json(200, obj)
        if q.get("watch") in ("1", "true"):
            return self.watch(g, v, plural, ns, q)
        with STORE.lock:
            items = sorted(((k, o) for k, o in STORE.objects.items()
                            if k[:3] == (g, v, plural) and (ns is None or k[3] == ns)
                            and matches_selector(o, q.get("labelSelector"))
                            and matches_fields(o, q.get("fieldSelector"))), key=lambda x: (x[0][3] or "", x[0][4]))
            rv = str(STORE.rv)
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": rv}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
        items = [o for _, o in page]
        if not STORE.typed_list_items:
            items = [{k2: v2 for k2, v2 in o.items() if k2 not in ("apiVersion", "kind")} for o in items]
        return self.send_json(200, {"apiVersion": (g + "/" + v) if g else v, "kind": kind + "List",
                                    "metadata": meta, "items": items})

    def watch(self, g, v, plural, ns, q):
        since = int(q.get("resourceVersion") or 0)
        # a real API server may send nothing at all on an idle watch: bookmarks only
        # while the admin switch allows them (default on)
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true") and STORE.bookmarks
        # timeoutSeconds: the server ends the stream cleanly after it (a real one does)
        ends = time.time() + float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        with STORE.lock:
            STORE.watch_requests = (STORE.watch_requests + [{"resource": plural, "resourceVersion":
                                    q.get("resourceVersion", ""), "timeoutSeconds": q.get("timeoutSeconds"),
                                    "namespace": ns, "fieldSelector": q.get("fieldSelector")}])[-500:]
        with STORE.lock:
            if since and since < STORE.compacted:
                code, body = status(410, "Expired", "too old resource version: %d (%d)" % (since, STORE.compacted))
                return self.send_json(code, body)
            gen, cut = STORE.drop_watches, STORE.cut_watches
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = since
        last_bookmark = time.time()
        try:
            while True:
                if ends is not None and time.time() >= ends:
                    break
                with STORE.lock:
                    if STORE.drop_watches != gen:
                        break
                    if STORE.cut_watches != cut:
                        # half of an event in its own chunk, then the connection goes: no
                        # newline, no terminating chunk (a proxy or node dying mid-write)
                        half = json.dumps({"type": "MODIFIED", "object": {"metadata": {
                            "name": "cut", "resourceVersion": str(STORE.rv + 1000)}}}).encode()[:40]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if sent < STORE.compacted:
                        ev = [{"type": "ERROR", "object": status(410, "Expired", "too old resource version")[1]}]
                    else:
                        lst = STORE.events.get((g, v, plural), [])
                        ev = [{"type": t, "object": o}
                              for rv, n2, t, o in lst[bisect.bisect_right(lst, sent, key=lambda e: e[0]):]
                              if (ns is None or n2 == ns) and matches_fields(o, q.get("fieldSelector"))]
                    if not ev:
                        # every event of ours up to here was sent: a bookmark may say so.
                        # (Read before waiting: what is committed during the wait is not sent yet.)
                        continue_rv = STORE.rv
                        STORE.lock.wait(0.2)
                    else:
                        continue_rv = None
                if ev:
                    for e in ev:
                        line = json.dumps(e).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        if e["type"] == "ERROR":
                            raise BrokenPipeError
                        sent = max(sent, int(e["object"]["metadata"]["resourceVersion"]))
                    self.wfile.flush()
                elif bookmarks and time.time() - last_bookmark > 1.0:
                    last_bookmark = time.time()
                    sent = max(sent, continue_rv)
                    line = json.dumps({"type": "BOOKMARK", "object": {"kind": RESOURCES[(g, v, plural)][0],
                                       "apiVersion": (g + "/" + v) if g else v,
                                       "metadata": {"resourceVersion": str(sent)}}}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        self.close_connection = True


def record(res, ns, typ, obj):
    """An event for watchers of res (under STORE.lock, after STORE.bump())."""
    STORE.events.setdefault(res, []).append((STORE.rv, ns, typ, obj))


def delete_object(key, cascade):
    """Deletes under STORE.lock, and with cascade every dependent (garbage collection)."""
    cur = STORE.objects.pop(key)
    gone = json.loads(json.dumps(cur))
    gone["metadata"]["resourceVersion"] = STORE.bump()
    record(key[:3], key[3], "DELETED", gone)
    uid = cur["metadata"].get("uid")
    if cascade and uid:
        for k2, o in list(STORE.objects.items()):
            if k2 in STORE.objects and any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences", [])):
                delete_object(k2, cascade=True)
    return gone


def merge(target, patch):
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge(target.get(k), v)
    return target


def main():
    global TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True)
    a = ap.parse_args()
    TOKEN = a.token
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
