"""`xdl site --serve`: this machine only, the folder as it is, a taken port in one line."""

import threading
import urllib.request

import pytest

from xdl.commands import site
from xdl.errors import InputError


def test_the_site_is_served_on_the_loopback_address_only(tmp_path):
    (tmp_path / "index.html").write_text("<h1>course</h1>")
    server = site.make_server(tmp_path, 0)
    host, port = server.server_address
    assert host == "127.0.0.1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as page:
            assert page.read() == b"<h1>course</h1>"
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_port_is_one_line(tmp_path):
    first = site.make_server(tmp_path, 0)
    try:
        with pytest.raises(InputError, match="pass --serve with another port"):
            site.make_server(tmp_path, first.server_address[1])
    finally:
        first.server_close()
