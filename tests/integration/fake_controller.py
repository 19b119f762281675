"""The slice of the AWX / Automation Controller API that ansible-rulebook's run_job_template uses, on 127.0.0.1.

It knows one job template. Launching it records the request and runs the template's playbook with
ansible-playbook and the launch's extra variables, as AWX would in an execution environment; the job's status
is the playbook's outcome.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeController:
    """Serve /api/v2/config/, unified_job_templates/, the template's launch/ and jobs/ for one job template."""

    def __init__(self, template, organization, command, env):
        self.template, self.organization = template, organization
        self.command, self.env = command, env  # how to run the template's playbook: argv before the extra vars
        self.launches = []  # the JSON body of each launch request
        self.jobs = {}  # id -> {"id", "status", "url", "stdout"}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def _run_job(self, job_id, extra_vars):
        """Run the playbook for one launched job and record its outcome, as AWX's job would."""
        if isinstance(extra_vars, str):  # AWX accepts extra_vars as a JSON (or YAML) string too
            extra_vars = json.loads(extra_vars)
        command = [*self.command, "-e", json.dumps(extra_vars)]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        with self.lock:
            self.jobs[job_id].update(status="successful" if done.returncode == 0 else "failed", stdout=done.stdout)

    def _handler(self):
        """Return the request handler class bound to this controller."""
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/api/v2/config/":
                    self._answer(200, {"version": "24.6.1"})
                elif parts.path == "/api/v2/unified_job_templates/":
                    found = query.get("name") == controller.template
                    template = {
                        "id": 7,
                        "type": "job_template",
                        "name": controller.template,
                        "summary_fields": {"organization": {"name": controller.organization}},
                        "related": {"launch": "/api/v2/job_templates/7/launch/"},
                        "ask_limit_on_launch": False,
                        "ask_labels_on_launch": False,
                        "ask_inventory_on_launch": False,
                        "ask_variables_on_launch": True,
                    }
                    self._answer(200, {"count": int(found), "next": None, "results": [template] if found else []})
                elif parts.path == "/api/v2/jobs/":
                    wanted = query.get("id__in", "").split(",")
                    with controller.lock:
                        jobs = [dict(job) for key, job in controller.jobs.items() if str(key) in wanted]
                    self._answer(200, {"count": len(jobs), "next": None, "results": jobs})
                else:
                    self._answer(404, {"detail": "Not found."})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/api/v2/job_templates/7/launch/":
                    self._answer(404, {"detail": "Not found."})
                    return
                with controller.lock:
                    controller.launches.append(body)
                    job_id = 100 + len(controller.launches)
                    controller.jobs[job_id] = {"id": job_id, "status": "running", "url": f"/api/v2/jobs/{job_id}/"}
                threading.Thread(
                    target=controller._run_job, args=(job_id, body.get("extra_vars", {})), daemon=True
                ).start()
                self._answer(201, {"id": job_id, "job": job_id, "url": f"/api/v2/jobs/{job_id}/", "status": "pending"})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
