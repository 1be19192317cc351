"""The public verification page (no log-in): paste the QR code's text or upload the PDF."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from . import verification


@require_http_methods(["GET", "POST"])
def verify_page(request: HttpRequest) -> HttpResponse:
    answer = None
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("pdf")
        text = request.POST.get("payload", "").strip()
        if upload is not None:
            if upload.size is not None and upload.size > verification.MAX_PDF_BYTES:
                answer = verification.check_pdf(b"")
            else:
                answer = verification.check_pdf(upload.read(verification.MAX_PDF_BYTES + 1))
        elif text:
            answer = verification.check_payload(text)
        else:
            error = "QRコードの文字列を入力するか、PDFファイルを選んでください"
    status = 400 if error else 200
    return render(request, "certificates/verify.html", {"answer": answer, "error": error,
                                                        "payload": request.POST.get("payload", "")}, status=status)
