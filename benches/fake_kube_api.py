"""A minimal HTTPS fake of the Kubernetes API for rss_discovery.sh: the bearer token checked,
a list of 3 pods labelled app=vipd in namespace lab, and a watch kept open with a BOOKMARK every
2 s. Usage: fake_kube_api.py ADDRESS PORT CERT KEY TOKEN_FILE"""
import json, ssl, sys, time, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
addr, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
TOKEN = open(sys.argv[5]).read().strip()
def pod(name, ip):
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "lab",
            "resourceVersion": "5", "labels": {"app": "vipd"}},
            "spec": {"hostNetwork": True}, "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}
PODS = [pod("p1", "10.200.77.2"), pod("p2", "10.200.77.3"), pod("p3", "10.200.77.4")]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
        if "watch=true" in self.path:
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            try:
                while True:
                    line = json.dumps({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                       "metadata": {"resourceVersion": "5"}}}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line)); self.wfile.flush()
                    time.sleep(2)
            except Exception:
                return
        body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
                           "items": PODS}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv = ThreadingHTTPServer((addr, port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
