"""TLS credentials for a Dask cluster closed to strangers.

Dask's TLS (``tls://`` addresses) encrypts every connection and admits only processes that
present a certificate signed by the cluster's certificate authority (CA): the scheduler,
the workers and the clients verify each other. :func:`write_tls_files` makes such a CA and
one certificate and key that every Dask process of the cluster uses; the CA's own key is
thrown away, so nobody can sign another certificate for it. Host names are not checked by
Dask, so one certificate serves every pod.

On Kubernetes the three files become the Secret that the manifests of ``deploy/kubernetes``
mount (``deploy/README.md``)::

    python -m vlab.campaign.security dask-tls
    kubectl create secret generic vlab-dask-tls --from-file=dask-tls

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     files = write_tls_files(folder)
...     sorted(p.name for p in files.paths())
['ca.crt', 'tls.crt', 'tls.key']
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vlab.errors import InputError

__all__ = ["TLSFiles", "tls_files", "write_tls_files"]

CA_FILE = "ca.crt"
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
_NAMES = ("localhost", "*.svc.cluster.local", "*.svc")


@dataclass(frozen=True, kw_only=True)
class TLSFiles:
    """The CA certificate, and the certificate and key every Dask process presents."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def paths(self) -> tuple[Path, Path, Path]:
        """``(ca_file, cert_file, key_file)``."""
        return (self.ca_file, self.cert_file, self.key_file)

    def security(self, *, require_encryption: bool = True):
        """A ``distributed.Security`` for the scheduler, the workers and the clients."""
        from distributed.security import Security

        cert, key = str(self.cert_file), str(self.key_file)
        return Security(
            tls_ca_file=str(self.ca_file),
            tls_scheduler_cert=cert,
            tls_scheduler_key=key,
            tls_worker_cert=cert,
            tls_worker_key=key,
            tls_client_cert=cert,
            tls_client_key=key,
            require_encryption=require_encryption,
        )


def tls_files(folder: str | os.PathLike) -> TLSFiles:
    """The files that :func:`write_tls_files` wrote into ``folder``.

    Raises
    ------
    InputError
        If one of ``ca.crt``, ``tls.crt`` and ``tls.key`` is missing.
    """
    folder = Path(folder)
    files = TLSFiles(
        ca_file=folder / CA_FILE, cert_file=folder / CERT_FILE, key_file=folder / KEY_FILE
    )
    missing = [p.name for p in files.paths() if not p.is_file()]
    if missing:
        raise InputError(
            f"The TLS folder {str(folder)!r} lacks {', '.join(missing)}. It must hold "
            f"{CA_FILE}, {CERT_FILE} and {KEY_FILE}: make them with "
            "python -m vlab.campaign.security FOLDER."
        )
    return files


def write_tls_files(
    folder: str | os.PathLike,
    *,
    days: int = 365,
    names: Sequence[str] = _NAMES,
    overwrite: bool = False,
) -> TLSFiles:
    """Write a new CA certificate and a certificate/key pair it signed into ``folder``.

    Parameters
    ----------
    folder : path
        Created if missing. Receives ``ca.crt``, ``tls.crt`` and ``tls.key`` (PEM; the key
        unencrypted, readable by its owner only).
    days : int
        Validity of both certificates, in days (>= 1).
    names : sequence of str
        DNS names and IP addresses written into the certificate (Dask itself does not check
        them; other TLS clients may).
    overwrite : bool
        Replace existing files; by default existing files are an error.

    Returns
    -------
    TLSFiles
        The paths; ``.security()`` gives the matching ``distributed.Security``.

    Raises
    ------
    InputError
        If ``days`` < 1, or a file exists and ``overwrite`` is false.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InputError(f"The certificates' validity must be an integer >= 1 days. Got {days!r}.")
    folder = Path(folder)
    files = TLSFiles(
        ca_file=folder / CA_FILE, cert_file=folder / CERT_FILE, key_file=folder / KEY_FILE
    )
    existing = [p.name for p in files.paths() if p.exists()]
    if existing and not overwrite:
        raise InputError(
            f"{', '.join(existing)} already exist in {str(folder)!r}. Choose an empty folder, "
            "or replace them with overwrite=True (--overwrite on the command line; clients "
            "with the old files are then refused)."
        )
    ca_pem, cert_pem, key_pem = _make_credentials(days=days, names=names)
    folder.mkdir(parents=True, exist_ok=True)
    files.ca_file.write_bytes(ca_pem)
    files.cert_file.write_bytes(cert_pem)
    _write_private(files.key_file, key_pem)
    return files


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _make_credentials(*, days: int, names: Sequence[str]) -> tuple[bytes, bytes, bytes]:
    """PEM bytes of a CA certificate, a certificate it signed, and that certificate's key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vlab-dask-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vlab-dask")])
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    leaf = (
        _builder(leaf_name, ca_name, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


def _builder(subject, issuer, public_key, start, end):
    from cryptography import x509

    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _key_usage(*, ca: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _general_names(names: Sequence[str]) -> list:
    from cryptography import x509

    out = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vlab.campaign.security FOLDER [DAYS] [--overwrite]``: write the files,
    print what next. Exit status 0, or 2 for bad input (files there, a bad DAYS)."""
    import argparse

    def days_type(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"DAYS (the certificates' validity) must be an integer >= 1. Got {text!r}."
            )
        return value

    parser = argparse.ArgumentParser(
        prog="python -m vlab.campaign.security",
        description="Write a CA, a certificate and its key for the Dask cluster's mutual TLS.",
    )
    parser.add_argument("folder", help=f"folder to write {CA_FILE}, {CERT_FILE} and {KEY_FILE} to")
    parser.add_argument("days", nargs="?", type=days_type, default=365, help="validity (365)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace files that are there already"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        files = write_tls_files(args.folder, days=args.days, overwrite=args.overwrite)
    except InputError as err:
        print(f"vlab: error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {', '.join(str(p) for p in files.paths())} (valid {args.days} days).")
    print(f"kubectl create secret generic vlab-dask-tls --from-file={args.folder}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
