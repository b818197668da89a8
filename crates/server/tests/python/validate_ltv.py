"""Validates the first signature of a PDF from what the PDF itself holds (PAdES B-LT):
pyHanko reads the Document Security Store, builds its validation context from it alone,
and checks revocation strictly (hard-fail) with fetching from the network switched off.

Usage: validate_ltv.py FILE.pdf ROOT.pem [ROOT.pem ...]
Prints the DSS's counts and pyHanko's bottom line; exits 1 unless the signature is valid.
"""
import sys

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

roots = [x509.Certificate.load(pem.unarmor(open(path, "rb").read())[2]) for path in sys.argv[2:]]
with open(sys.argv[1], "rb") as document:
    reader = PdfFileReader(document)
    dss = DocumentSecurityStore.read_dss(reader)
    context = dss.as_validation_context(
        {"trust_roots": roots, "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    status = validate_pdf_signature(reader.embedded_signatures[0], context)
    print(f"dss certs={len(list(dss.load_certs()))} ocsps={len(dss.ocsps)} crls={len(dss.crls)}")
    print(status.pretty_print_details())
    print(f"bottom line: {status.bottom_line}")
    sys.exit(0 if status.bottom_line else 1)
