-- Who holds a NIK is asked on every registration and member change. The unique index
-- leaves out the NIKs two households held before NIKs had to be unique, so it cannot
-- answer that question: without this one, each lookup read the whole members table.
CREATE INDEX members_nik_lookup ON members (nik);
