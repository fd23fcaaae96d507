"""SnapStart's hooks: warm what the snapshot should hold, and renew what each restored copy must not share.

``lambda_function`` registers them only when Lambda initialises the function for a snapshot
(``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``, with the template's ``SnapStart=on``); otherwise this
module is never imported and start-up does not change. The runtime (awslambdaric, through
``snapshot_restore_py``, both in Lambda's base image) runs the before-snapshot hook once per published
version, after init, and the after-restore hook in every execution environment restored from that snapshot.

What is renewed, after AWS's "Handling uniqueness with Lambda SnapStart": Python's ``random`` (its state would
be the same in every copy), and the TLS context, so that each copy loads its own with the certificates and
the entropy of where it runs. The fetcher keeps no connection between requests, so there is none to close;
the catalog's S3 client is made on the first batch, always after a restore.
"""

import io
import random

from PIL import Image
from snapshot_restore_py import register_after_restore, register_before_snapshot

from clothing.decoding.decode import ACCEPTED_FORMATS
from clothing.logs import InvocationFields
from clothing.service import Service

SAMPLE_SIZE = 64


def sample_pictures() -> dict[str, bytes]:
    """A small grey picture in each accepted format, written by Pillow's own encoders."""
    picture = Image.new("RGB", (SAMPLE_SIZE, SAMPLE_SIZE), (128, 128, 128))
    samples = {}
    for name in ACCEPTED_FORMATS:
        buffer = io.BytesIO()
        picture.save(buffer, format=name)
        samples[name] = buffer.getvalue()
    return samples


def prime(service: Service) -> dict[str, dict[str, float]]:
    """Decode one picture of each format and classify it, so that the snapshot holds the loaded decoders and
    the interpreter's packed weights (XNNPACK packs them on the first inference), and the fetcher made. Returns
    the scores."""
    service.fetcher  # noqa: B018 - the HTTP client and ssl loaded into the snapshot, not after each restore
    return {name: service.classifier.classify_bytes(data) for name, data in sample_pictures().items()}


def renew(service: Service, invocation: InvocationFields) -> None:
    """What must differ between the copies restored from one snapshot."""
    random.seed()  # from os.urandom, in this copy
    service.fetcher.forget_tls()
    invocation.restored()


def register(service: Service, invocation: InvocationFields) -> None:
    register_before_snapshot(prime, service)
    register_after_restore(renew, service, invocation)
