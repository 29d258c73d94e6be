"""No text is ever lost from the invoice PDF: names in Chinese, Japanese, Korean, Greek, Cyrillic and accented
Latin come back out of the page as they went in, and a character that no font has stops the rendering with
an error naming the character and the field."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from pypdf import PdfReader

from passerelle.documents.pdf import UnrenderableTextError, render_facturx, render_pdf
from passerelle.documents.render import render_cii
from passerelle.documents.validation import CiiValidator, validate_facturx_pdf
from passerelle.errors import PasserelleError
from passerelle_dev import samples
from passerelle.einvoice.model import Invoice

NAMES = {
    "chinese": "北京华为技术有限公司",
    "traditional chinese": "臺灣積體電路製造股份有限公司",
    "japanese": "株式会社トヨタ自動車 ひらがな",
    "korean": "삼성전자 주식회사",
    "greek": "Ελληνικά Τρόφιμα Α.Ε.",
    "cyrillic": "ООО «Ромашка» Москва",
    "accented latin": "Łódź Škoda Brașov İzmir Nguyễn Ærøskøbing",
}


def page_text(pdf: bytes) -> str:
    """The extracted text, every kind of space folded to one."""
    return " ".join("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def with_texts(buyer_name: str, item_name: str | None = None, description: str | None = None) -> Invoice:
    invoice = samples.b2b_multi_rate()
    first = replace(invoice.lines[0], item_name=item_name or invoice.lines[0].item_name,
                    description=description or invoice.lines[0].description)
    return replace(invoice, buyer=replace(invoice.buyer, name=buyer_name), lines=(first, *invoice.lines[1:]))


@pytest.mark.parametrize("script", sorted(NAMES))
def test_a_name_in_any_script_comes_back_out_of_the_page(script: str) -> None:
    name = NAMES[script]
    text = page_text(render_pdf(with_texts(name, item_name=f"Article {name}", description=f"Livré à {name}")))
    assert text.count(" ".join(name.split())) == 3, script  # buyer block, item name, description


def test_a_bold_cjk_seller_name_is_printed_in_the_regular_weight_rather_than_lost() -> None:
    invoice = samples.b2b_multi_rate()
    invoice = replace(invoice, seller=replace(invoice.seller, name="巴黎丝绸贸易有限公司"))
    assert page_text(render_pdf(invoice)).startswith("巴黎丝绸贸易有限公司")


def test_every_script_together_in_one_factur_x_that_stays_valid(cii_validator: CiiValidator) -> None:
    everything = " / ".join(NAMES.values())
    invoice = with_texts(NAMES["chinese"], item_name=NAMES["korean"], description=everything)
    pdf = render_facturx(invoice, render_cii(invoice))
    text = page_text(pdf)
    for script, name in NAMES.items():
        assert " ".join(name.split()) in text, script
    assert validate_facturx_pdf(pdf, cii_validator) == []
    fonts = {font.get_object()["/BaseFont"].split("+")[-1] for page in PdfReader(io.BytesIO(pdf)).pages
             for font in page["/Resources"]["/Font"].values()}
    assert fonts == {"DejaVuSansBook", "DejaVuSansBold", "NotoSansSC", "NotoSansKR"}


def test_cjk_fonts_are_embedded_as_subsets() -> None:
    pdf = render_pdf(with_texts(NAMES["chinese"]))
    assert len(pdf) < 200_000  # the Noto Sans SC instance alone is over 10 MB


def test_a_character_no_font_has_names_itself_and_the_buyer_name_field() -> None:
    with pytest.raises(UnrenderableTextError) as raised:
        render_pdf(with_texts("Boulangerie \N{CROISSANT} Dupont"))
    assert isinstance(raised.value, PasserelleError)
    assert raised.value.field == "buyer name (BT-44)" and raised.value.character == "\N{CROISSANT}"
    assert str(raised.value).startswith("buyer name (BT-44): character U+1F950 CROISSANT ")


def test_a_character_no_font_has_in_a_line_names_the_line_and_the_item_name() -> None:
    invoice = samples.b2b_multi_rate()
    third = replace(invoice.lines[2], item_name="Lancement \N{ROCKET}")
    invoice = replace(invoice, lines=(*invoice.lines[:2], third, *invoice.lines[3:]))
    with pytest.raises(UnrenderableTextError, match=r"^line 3 item name \(BT-153\): character U\+1F680 ROCKET "):
        render_pdf(invoice)


def test_a_character_drawn_outside_the_known_fields_is_still_refused() -> None:
    """The seller's trading name is not printed, so it may hold anything; a printed field may not."""
    invoice = samples.b2b_multi_rate()
    quiet = replace(invoice, seller=replace(invoice.seller, trading_name="\N{PARTY POPPER}"))
    assert render_pdf(quiet).startswith(b"%PDF")
    loud = replace(invoice, payment_terms="Paiement à 30 jours \N{THUMBS UP SIGN}")
    with pytest.raises(UnrenderableTextError, match=r"^payment terms \(BT-20\): character U\+1F44D THUMBS UP SIGN"):
        render_pdf(loud)
