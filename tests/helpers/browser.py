"""A real headless Chromium, driven through chromedriver's WebDriver protocol (plain HTTP)."""

import base64
import json
import shutil
import subprocess
import urllib.request

import pytest

from helpers.support import free_port, port_open, wait_for


class Browser:
    def __init__(self, width=1280, height=900):
        for program in ("chromium", "chromedriver"):
            if shutil.which(program) is None:
                pytest.fail(f"{program} is not installed (apt-get install chromium chromium-driver)")
        self.port = free_port()
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: port_open(self.port), 20, "chromedriver")
        options = {
            "binary": shutil.which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"],
        }
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        self.session = self.call("POST", "/session", {"capabilities": capabilities})["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data, {"Content-Type": "application/json"}, method=method
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["value"]

    def open(self, url):
        self.call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script):
        """The value of a JavaScript function body run in the page."""
        return self.call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def text(self, element_id):
        return self.run(f"return document.getElementById({element_id!r}).textContent")

    def screenshot(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("GET", f"/session/{self.session}/screenshot")))

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=20)
