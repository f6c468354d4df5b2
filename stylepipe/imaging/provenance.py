"""A provenance note in outputs: which stylepipe made them, with which steps and models.

The note goes into EXIF ``Software`` (``stylepipe 0.1.0``) and into XMP as one
``rdf:Description`` in the ``stylepipe`` namespace (``stylepipe:software``,
``stylepipe:pipeline``, ``stylepipe:models``), added beside the input's own XMP (titles,
keywords and captions stay as they are). A note from an earlier stylepipe run is
replaced, not repeated. Malformed XMP or EXIF is left alone rather than rewritten.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

from PIL import Image

from stylepipe.imaging.frame import ImageMetadata

NAMESPACE = "http://ns.stylepipe.dev/provenance/1.0/"
_SOFTWARE = 0x0131
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_OLD_NOTE = re.compile(rb"<rdf:Description[^>]*xmlns:stylepipe=[^>]*/>")


def stamp(metadata: ImageMetadata, software: str, pipeline: str, models: str) -> ImageMetadata:
    """``metadata`` with the provenance note in its EXIF and XMP (see the module docs)."""
    return metadata.replace(
        exif=_exif_with_software(metadata.exif, software),
        xmp=_xmp_with_note(metadata.xmp, _description(software, pipeline, models)),
    )


def _description(software: str, pipeline: str, models: str) -> bytes:
    attributes = [
        f"stylepipe:software={quoteattr(software)}",
        f"stylepipe:pipeline={quoteattr(pipeline)}",
    ]
    if models:
        attributes.append(f"stylepipe:models={quoteattr(models)}")
    text = f'<rdf:Description rdf:about="" xmlns:stylepipe="{NAMESPACE}" {" ".join(attributes)}/>'
    return text.encode("utf-8")


def _xmp_with_note(xmp: bytes | None, note: bytes) -> bytes | None:
    if not xmp:
        return (
            b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + _RDF.encode() + b'">'
            + note
            + b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
        )  # fmt: skip
    end = xmp.rfind(b"</rdf:RDF>")
    if end < 0:
        return xmp  # not an XMP packet we can add to
    kept = _OLD_NOTE.sub(b"", xmp[:end])
    return kept + note + xmp[end:]


def _exif_with_software(exif_bytes: bytes | None, software: str) -> bytes | None:
    exif = Image.Exif()
    try:
        if exif_bytes:
            exif.load(exif_bytes)
        exif[_SOFTWARE] = software
        data = exif.tobytes()
    except (SyntaxError, ValueError, TypeError, KeyError, OSError, IndexError):
        return exif_bytes  # unreadable EXIF: kept as it is
    return data if data.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + data


__all__ = ["NAMESPACE", "stamp"]
