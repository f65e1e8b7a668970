"""The organisation's logo, checked before it is kept: a PNG or an SVG nothing can run in.

Candidate pages show the logo with `<img>` (where an SVG's scripts never run) and the
logo's own address answers with `default-src 'none'`; an SVG is still refused unless it
is drawing and nothing else, because the file may be opened on its own, copied into an
email, or served by a later version of a page. What is kept is not the upload: an SVG is
written again from its parsed tree, so no comment, processing instruction or byte
outside the checked elements survives.

The type is read from the bytes, never from the file name or the browser's claim.
"""

from __future__ import annotations

import re
import struct

# The standard library's tree only holds and writes out what defusedxml parsed.
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from screen.platform.errors import InputError, TooLargeError

MAX_LOGO_BYTES = 256 * 1024
# A logo is drawn a few hundred pixels wide at most; anything beyond this is a mistake or
# a file made to exhaust whoever rasterises it.
MAX_PNG_SIDE = 2000
MAX_SVG_SIDE = 4096
MAX_SVG_ELEMENTS = 5000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG, SVG = "image/png", "image/svg+xml"

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
# Drawing, text and paint servers: what a logo is made of. Anything else (script,
# foreignObject, animation that can rewrite an href, image, iframe, a foreign namespace's
# elements) is refused with its name.
ALLOWED_ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "symbol", "use", "title", "desc", "metadata",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask",
        "filter", "feGaussianBlur", "feOffset", "feBlend", "feFlood", "feComposite",
        "feMerge", "feMergeNode", "feColorMatrix", "feDropShadow",
        "style",
    }
)  # fmt: skip
_NAMED_REFUSALS = {
    "script": "a <script> element",
    "foreignObject": "a <foreignObject> element (HTML inside the drawing)",
    "image": "an <image> element (a picture loaded from elsewhere)",
    "iframe": "an <iframe> element",
    "embed": "an <embed> element",
    "object": "an <object> element",
    "handler": "a <handler> element (script)",
    "set": "a <set> animation (it can rewrite a link)",
    "animate": "an <animate> element (it can rewrite a link)",
}
# url(...) and @import in attributes and <style>: only `url(#id)` (a gradient or clip
# defined in the same file) is allowed.
_URL_REFERENCE = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_IMPORT = re.compile(r"@import", re.IGNORECASE)
_SCRIPT_URL = re.compile(r"(?:java|vb)script\s*:|data\s*:", re.IGNORECASE)
# Any processing instruction but the XML declaration (xml-stylesheet loads a stylesheet).
_PROCESSING_INSTRUCTION = re.compile(rb"<\?(?!xml\s)", re.IGNORECASE)
_LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(px|pt|mm|cm|in|em|ex|%)?\s*")


@dataclass(frozen=True)
class Logo:
    content: bytes
    media_type: str


def _refuse(problem: str) -> InputError:
    return InputError(f"The logo was refused: {problem}", field="logo")


def check_logo(data: bytes, filename: str = "") -> Logo:
    """The logo to keep, or an `InputError` (field "logo") saying what is wrong."""
    if not data:
        raise InputError("Choose a PNG or SVG file to upload.", field="logo")
    if len(data) > MAX_LOGO_BYTES:
        raise TooLargeError(
            f"The logo was refused: it is {len(data) // 1024} KB; the limit is "
            f"{MAX_LOGO_BYTES // 1024} KB.",
            field="logo",
        )
    if data.startswith(PNG_MAGIC):
        return Logo(_checked_png(data), PNG)
    if filename.lower().endswith(".png"):
        raise _refuse(f"{filename} does not start like a PNG image; it may be another format.")
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return Logo(_checked_svg(data), SVG)
    raise _refuse("it is neither a PNG nor an SVG image.")


def _checked_png(data: bytes) -> bytes:
    # The first chunk of every PNG is IHDR: width and height as big-endian 32-bit numbers.
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _refuse("the PNG has no image header; the file may be damaged.")
    width, height = struct.unpack(">II", data[16:24])
    if not (1 <= width <= MAX_PNG_SIDE and 1 <= height <= MAX_PNG_SIDE):
        raise _refuse(
            f"the PNG is {width}×{height} pixels; at most {MAX_PNG_SIDE}×{MAX_PNG_SIDE} "
            "is accepted."
        )
    return data


def _local(name: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag or attribute name."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _check_length(name: str, value: str) -> None:
    match = _LENGTH.fullmatch(value)
    if match is None:
        raise _refuse(f"its {name} “{value[:40]}” is not a length.")
    number = float(match.group(1))
    if match.group(2) != "%" and number > MAX_SVG_SIDE:
        raise _refuse(f"its {name} is {value[:40]}; at most {MAX_SVG_SIDE} is accepted.")


def _check_view_box(value: str) -> None:
    parts = value.replace(",", " ").split()
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4:
        raise _refuse(f"its viewBox “{value[:40]}” is not four numbers.")
    if any(abs(number) > MAX_SVG_SIDE for number in numbers):
        raise _refuse(f"its viewBox is {value[:60]}; sizes up to {MAX_SVG_SIDE} are accepted.")


def _check_references(where: str, value: str) -> None:
    if _SCRIPT_URL.search(value):
        raise _refuse(f"{where} holds a javascript: or data: address.")
    if _IMPORT.search(value):
        raise _refuse(f"{where} imports a stylesheet from elsewhere.")
    for target in _URL_REFERENCE.findall(value):
        if not target.startswith("#"):
            raise _refuse(f"{where} refers to something outside the file ({target[:60]}).")


def _check_element(element: ET.Element) -> None:
    if not isinstance(element.tag, str):
        raise _refuse("it holds a processing instruction (such as xml-stylesheet).")
    namespace, name = _local(element.tag)
    if name in _NAMED_REFUSALS:
        raise _refuse(f"it holds {_NAMED_REFUSALS[name]}.")
    if namespace != SVG_NS or name not in ALLOWED_ELEMENTS:
        shown = name if namespace in (SVG_NS, "") else f"{name} (from {namespace[:60]})"
        raise _refuse(
            f"it holds an element <{shown}>, which a logo does not need; export it as a plain SVG."
        )
    for attribute, value in element.attrib.items():
        attr_ns, attr = _local(attribute)
        if attr.lower().startswith("on"):
            raise _refuse(f"<{name}> has an event handler ({attr}), which runs script.")
        if attr_ns not in ("", XLINK_NS, XML_NS):
            raise _refuse(f"<{name}> has an attribute from another vocabulary ({attr}).")
        if attr == "href" and not value.strip().startswith("#"):
            raise _refuse(
                f"<{name}> links to something outside the file ({value.strip()[:60]}); "
                "only #fragment links within it are accepted."
            )
        _check_references(f"<{name}>'s {attr}", value)
    if name == "style":
        _check_references("its <style>", "".join(element.itertext()))


def _checked_svg(data: bytes) -> bytes:
    if _PROCESSING_INSTRUCTION.search(data):
        raise _refuse("it holds a processing instruction (such as xml-stylesheet).")
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(insert_pis=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:
        raise _refuse(
            "it declares a DOCTYPE or entities, which can read files or expand without end."
        ) from None
    except ET.ParseError as error:
        raise _refuse(f"it is not well-formed XML ({error}).") from None
    if _local(root.tag) != (SVG_NS, "svg"):
        raise _refuse("it is XML but not an SVG image (its root must be <svg>).")
    for count, element in enumerate(root.iter(), start=1):
        if count > MAX_SVG_ELEMENTS:
            raise _refuse(f"it has more than {MAX_SVG_ELEMENTS} elements.")
        _check_element(element)
    for name in ("width", "height"):
        if (value := root.get(name)) is not None:
            _check_length(name, value)
    if (view_box := root.get("viewBox")) is not None:
        _check_view_box(view_box)
    return _serialised(root)


def _serialised(root: ET.Element) -> bytes:
    # ElementTree names namespaces ns0, ns1 unless told; SVG must be the default one.
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    written: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return written
