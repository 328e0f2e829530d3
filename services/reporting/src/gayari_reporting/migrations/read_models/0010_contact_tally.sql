-- The contacts counted per day, for /unserved of one agency across a province or more
-- (adapters/household_rows.py, CONTACT_LEVELS), built from the contacts already there.
CREATE TABLE tally_contacts (
    level      smallint NOT NULL,
    area       text COLLATE "C" NOT NULL,
    agency     text NOT NULL,   -- '' for every household
    kind       text NOT NULL,   -- 'enrolled' or 'last'
    day        date NOT NULL,
    households bigint NOT NULL,
    PRIMARY KEY (level, area, agency, kind, day)
);

  INSERT INTO tally_contacts AS t (level, area, agency, kind, day, households)
  SELECT length(lv.area), lv.area, d.agency, d.kind, d.day, sum(d.n)
  FROM (SELECT left(c.village_code, 2) AS province, k.agency, k.kind, k.day,
               sum(c.n) AS n
        FROM (SELECT *, 1 AS n FROM contacts) AS c CROSS JOIN LATERAL (
          SELECT '' AS agency, 'enrolled' AS kind, c.enrolled_on AS day
          UNION ALL
          SELECT '', 'last', c.last_on
          UNION ALL
          SELECT b.key, v.kind, v.day
          FROM jsonb_each_text(c.last_by) AS b
          CROSS JOIN LATERAL (VALUES ('enrolled', c.enrolled_on),
                                     ('last', b.value::date)) AS v (kind, day)) AS k
        GROUP BY 1, 2, 3, 4) AS d
  CROSS JOIN LATERAL unnest(
      CASE WHEN d.province = '' THEN ARRAY[''] ELSE ARRAY['', d.province] END) AS lv(area)
  GROUP BY lv.area, d.agency, d.kind, d.day
  HAVING sum(d.n) <> 0
  ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (level, area, agency, kind, day) DO UPDATE
  SET households = t.households + excluded.households;
