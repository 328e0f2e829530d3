-- The contact tally counted again from the contacts, now with every contact's last contact of
-- any agency (whether or not 0010, which builds the same, counted it already).
TRUNCATE tally_contacts;

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
