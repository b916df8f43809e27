"""A local stand-in for the greeter's /greeter page, for verify.yml's postcard check in the sandbox (whose
kwok pods run no containers, so no real greeter answers there). The real end-to-end fetch through the
ingress gateway is only exercised on real clouds.
  postcard_page.py PORTFILE MESSAGE
GET /ok/greeter: the page the greeter shows when it got MESSAGE from the messenger;
GET /error/greeter: the page it shows when the messenger is unreachable; anything else: 404."""
import http.server
import sys

PAGE = "<html><body><h1>Postcard</h1><p>Hi there, <br><br>%s</p><p>from mesh-1</p></body></html>"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        pages = {"/ok/greeter": "We have a message for you:<br><br>" + sys.argv[2],
                 "/error/greeter": "Oops we received nothing!"}
        if self.path not in pages:
            self.send_error(404)
            return
        body = (PAGE % pages[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as out:
    out.write(str(server.server_address[1]))
server.serve_forever()
