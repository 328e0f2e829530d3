-- The intake refusals counted for /data-quality (adapters/refusals.py), beside the
-- generations, not in them: a replay leaves them as they are.
CREATE TABLE public.intake_refusals (
    source_topic     text NOT NULL,
    source_partition int NOT NULL,
    source_offset    bigint NOT NULL,
    agency           text NOT NULL,
    reason_code      text NOT NULL,
    reason           text NOT NULL,
    event_id         text,
    refused_at       timestamptz NOT NULL,
    PRIMARY KEY (source_topic, source_partition, source_offset)
);
CREATE INDEX intake_refusals_agency ON public.intake_refusals (agency, reason_code);
CREATE INDEX intake_refusals_day ON public.intake_refusals (refused_at);
