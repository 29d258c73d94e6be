"""Invoice documents: CII / UBL XML, Factur-X PDFs, and their validation against the official rules."""
