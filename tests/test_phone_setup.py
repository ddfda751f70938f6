"""A channel's phone setup (docs/phone-panel.md): the server, topic and ntfy:// link the ntfy
app takes, and the link's QR code, which must decode to the link."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp

from eventgate.domain.phone_link import phone_link
from tests.helpers import error_code

SVG = "{http://www.w3.org/2000/svg}"
PIXELS_PER_MODULE = 4


@pytest.fixture
def admin_key(server, workspace):
    return server.create_key(("admin",), workspace_id=workspace)


@pytest.fixture
def admin(server, admin_key):
    return server.client(headers={"Authorization": f"Bearer {admin_key}"})


@pytest.fixture
def own_channel(server, workspace):
    return server.create_channel(workspace_id=workspace, name="garage")


def rasterize(svg: str) -> memoryview:
    """The QR code of an SVG as segno draws it (one stroked path of horizontal runs, `M x y`,
    `m dx dy`, `h n`, one unit per module, strokes centred on y + 0.5) as 8-bit grey pixels."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    _, _, width, height = (float(v) for v in root.attrib["viewBox"].split())
    strokes = [p for p in root.iter(f"{SVG}path") if p.get("stroke")]
    assert len(strokes) == 1
    size = int(width) * PIXELS_PER_MODULE
    assert width == height
    pixels = bytearray([255]) * (size * size)
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", strokes[0].get("d")):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            row = int(y)  # the stroke's centre line is y + 0.5
            for column in range(int(x), int(x + float(a))):
                for dy in range(PIXELS_PER_MODULE):
                    start = (row * PIXELS_PER_MODULE + dy) * size + column * PIXELS_PER_MODULE
                    pixels[start:start + PIXELS_PER_MODULE] = bytes(PIXELS_PER_MODULE)
            x += float(a)
    return memoryview(bytes(pixels)).cast("B", (size, size))


def decode(svg: str) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(rasterize(svg))]


# -- the link ----------------------------------------------------------------------------------


def test_an_https_server_gives_a_plain_link_named_after_the_channel():
    found = phone_link("https://events.example.com/", "06J0FZG1Y8XGG14VTQ4Y3G10MR", "home lab")
    assert found.server == "https://events.example.com"
    assert found.link == "ntfy://events.example.com/06J0FZG1Y8XGG14VTQ4Y3G10MR?display=home%20lab"
    assert not found.local


def test_an_http_server_says_secure_false_and_keeps_its_port():
    found = phone_link("http://192.168.1.20:8080", "T", "n")
    assert found.server == "http://192.168.1.20:8080"
    assert found.link == "ntfy://192.168.1.20:8080/T?display=n&secure=false"


def test_default_ports_are_left_out():
    assert phone_link("https://example.com:443", "T").link == "ntfy://example.com/T"
    assert phone_link("http://example.com:80", "T").server == "http://example.com"


def test_a_display_name_is_percent_encoded():
    link = phone_link("https://example.com", "T", "Küche & Bad?").link
    assert link == "ntfy://example.com/T?display=K%C3%BCche%20%26%20Bad%3F"


def test_a_path_prefix_cannot_be_said_in_a_link():
    found = phone_link("https://example.com/eventgate/", "T", "n")
    assert found.server == "https://example.com/eventgate"
    assert found.link is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000",
                                 "http://0.0.0.0:8080", "http://app.localhost"])
def test_loopback_servers_are_local(url):
    assert phone_link(url, "T").local


def test_an_ipv6_server_keeps_its_brackets():
    assert phone_link("http://[fd00::5]:8080", "T").link == "ntfy://[fd00::5]:8080/T?secure=false"


# -- the admin route ---------------------------------------------------------------------------


def test_phone_setup_names_this_server_the_channel_id_and_its_link(server, admin, own_channel):
    reply = admin.get(f"/admin/channels/{own_channel}/phone")
    assert reply.status_code == 200, reply.text
    setup = reply.json()["data"]
    host = server.base_url.removeprefix("http://")
    assert setup["server"] == server.base_url
    assert setup["topic"] == own_channel
    assert setup["name"] == "garage"
    assert setup["link"] == f"ntfy://{host}/{own_channel}?display=garage&secure=false"
    assert setup["server_is_local"] is True  # 127.0.0.1: a phone cannot reach it


def test_the_qr_code_is_an_svg_that_decodes_to_the_link(admin, own_channel):
    setup = admin.get(f"/admin/channels/{own_channel}/phone").json()["data"]
    assert setup["svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert decode(setup["svg"]) == [setup["link"]]


def test_the_public_url_is_the_server_phones_are_given(server_factory, workspace):
    public = server_factory(public_url="https://events.example.com/")
    channel = public.create_channel(workspace_id=workspace, name="home lab")
    key = public.create_key(("admin",), workspace_id=workspace)
    setup = public.client(headers={"Authorization": f"Bearer {key}"}).get(f"/admin/channels/{channel}/phone").json()["data"]
    assert setup["server"] == "https://events.example.com"
    assert setup["link"] == f"ntfy://events.example.com/{channel}?display=home%20lab"
    assert setup["server_is_local"] is False
    assert decode(setup["svg"]) == [setup["link"]]


def test_under_a_path_prefix_there_is_no_link_nor_qr_code(server_factory, workspace):
    public = server_factory(public_url="https://example.com/eventgate")
    channel = public.create_channel(workspace_id=workspace, name="garage")
    key = public.create_key(("admin",), workspace_id=workspace)
    setup = public.client(headers={"Authorization": f"Bearer {key}"}).get(f"/admin/channels/{channel}/phone").json()["data"]
    assert setup["server"] == "https://example.com/eventgate"
    assert setup["link"] is None and setup["svg"] is None


def test_phone_setup_needs_the_admin_scope(server, workspace, own_channel):
    reader = server.client(headers={"Authorization": f"Bearer {server.create_key(workspace_id=workspace)}"})
    refused = reader.get(f"/admin/channels/{own_channel}/phone")
    assert refused.status_code == 403 and error_code(refused) == "insufficient_scope"
    anonymous = server.client().get(f"/admin/channels/{own_channel}/phone")
    assert anonymous.status_code == 401


def test_an_unknown_channel_is_404(admin):
    for channel_id in ("06J0FZG1Y8XGG14VTQ4Y3G10MR", "no%20such"):
        reply = admin.get(f"/admin/channels/{channel_id}/phone")
        assert reply.status_code == 404 and error_code(reply) == "channel_not_found", reply.text


def test_another_workspaces_channel_is_404(server, admin):
    elsewhere = server.create_channel(workspace_id=server.create_workspace(), name="theirs")
    reply = admin.get(f"/admin/channels/{elsewhere}/phone")
    assert reply.status_code == 404 and error_code(reply) == "channel_not_found"


def test_a_key_restricted_to_other_channels_is_refused(server, workspace, own_channel):
    other = server.create_channel(workspace_id=workspace, name="other")
    key = server.create_key(("admin",), workspace_id=workspace, channels=(other,))
    reply = server.client(headers={"Authorization": f"Bearer {key}"}).get(f"/admin/channels/{own_channel}/phone")
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_phone_setup_takes_no_query_parameters(admin, own_channel):
    reply = admin.get(f"/admin/channels/{own_channel}/phone", params={"token": "x"})
    assert reply.status_code == 400 and error_code(reply) == "unknown_parameter"


def test_the_reply_holds_no_secret_of_the_channel(admin, own_channel):
    token = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "phone"}).json()["data"]["token"]
    assert token not in admin.get(f"/admin/channels/{own_channel}/phone").text
