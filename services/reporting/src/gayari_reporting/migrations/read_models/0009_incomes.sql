-- The income change of the outcomes report, kept per household and tallied per area
-- (adapters/income_pairs.py), rebuilt from the surveys already there.
-- No unique key: a batch deletes a household's row and inserts its new one in one
-- statement, which a unique index would see as a conflict.
CREATE TABLE income_pairs (
    household_id uuid NOT NULL,
    district     text COLLATE "C" NOT NULL,  -- '' where the village is not known
    first_idr    bigint NOT NULL,
    latest_idr   bigint NOT NULL
);
CREATE INDEX income_pairs_household ON income_pairs (household_id);
CREATE TABLE tally_incomes (
    level       smallint NOT NULL,
    area        text COLLATE "C" NOT NULL,
    change_idr  bigint NOT NULL,
    households  bigint NOT NULL,
    first_idr   bigint NOT NULL,  -- sums over those households
    latest_idr  bigint NOT NULL,
    PRIMARY KEY (level, area, change_idr)
);


TRUNCATE income_pairs, tally_incomes;
INSERT INTO income_pairs 
  SELECT s.household_id, coalesce(left(h.village_code, 8), '') COLLATE "C" AS district,
         (array_agg(s.monthly_income_idr
                    ORDER BY s.surveyed_on, s.recorded_at, s.survey_id))[1] AS first_idr,
         (array_agg(s.monthly_income_idr
                    ORDER BY s.surveyed_on DESC, s.recorded_at DESC, s.survey_id DESC))[1]
           AS latest_idr
  FROM (SELECT x.* FROM business_surveys x WHERE NOT EXISTS (
          SELECT 1 FROM voids v WHERE v.intervention_type = 'business-survey'
            AND v.intervention_id = x.survey_id)) AS s
  LEFT JOIN household_state h USING (household_id)
  GROUP BY s.household_id, h.village_code
  HAVING count(*) >= 2;

INSERT INTO tally_incomes AS t (level, area, change_idr, households, first_idr, latest_idr)
SELECT length(lv.area), lv.area, d.change_idr, sum(d.households), sum(d.first_idr),
       sum(d.latest_idr)
FROM (
  SELECT district, latest_idr - first_idr AS change_idr, count(*) AS households,
         sum(first_idr) AS first_idr, sum(latest_idr) AS latest_idr
  FROM income_pairs GROUP BY 1, 2) AS d
CROSS JOIN LATERAL unnest(
    CASE WHEN d.district = '' THEN ARRAY['']
         ELSE ARRAY['', left(d.district, 2), left(d.district, 5), d.district] END) AS lv(area)
GROUP BY lv.area, d.change_idr
HAVING sum(d.households) <> 0 OR sum(d.first_idr) <> 0 OR sum(d.latest_idr) <> 0
ORDER BY 1, 2, 3
ON CONFLICT (level, area, change_idr) DO UPDATE
SET households = t.households + excluded.households,
    first_idr = t.first_idr + excluded.first_idr,
    latest_idr = t.latest_idr + excluded.latest_idr;
