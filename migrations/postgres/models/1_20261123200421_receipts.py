from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "receipt" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "lookup" VARCHAR(64) NOT NULL UNIQUE,
    "secret_lookup" VARCHAR(64) NOT NULL UNIQUE,
    "state" VARCHAR(16) NOT NULL,
    "created_at" BIGINT NOT NULL,
    "expires_at" BIGINT NOT NULL,
    "revealed_at" BIGINT,
    "failed_attempts" INT NOT NULL,
    "purge_at" BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_receipt_purge_a_15aaf4" ON "receipt" ("purge_at");
COMMENT ON TABLE "receipt" IS 'What the creator may learn about a secret: its state and times, never its content.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "receipt";"""


MODELS_STATE = (
    "eJztWm1T2zgQ/iuafLneTMqEEAJHPwWm13LTCzPA3F2ndBzF3sSa2JIrKYRMj/9+WtmJYz"
    "sOMS0cL/4CZHef1frZtaTd8L0RCg8CtXMOLrBIm19Ceo0j8r3BaQjmj/UGTdKgUZSqUaDp"
    "MLAIGZtao6HSkrraiEc0UGBEHihXGjUTHI3/9qkm2gfiSqBaSBLSOQmASk7oUEw1oUSB0e"
    "kjwrQiSlMNhHKPaBaCahIO1yCtyhVcA9c7uK4nXLMw4+OHWeKKX/HBIBBiMo0GA8KUcSE4"
    "vJ0Zxz5VPhEju+BgkHDhTGA+GLwzgnglZwV7xdE0lv+iiJhxEmutqyaZ+cz1iUs5F5qM2T"
    "UkrhNP1jMZUneyg0HZ6OOYIuCeoaBJpHkAGoBHzLMPp5KD984EnKhJEqJZRyhAF3ATMQnK"
    "odr4MTGQiCpl0IY9zzypIrGBt0MuMfAZQGT4MWUAGpQNTorZFRfcxTCjqRxD3pdN0pSzb1"
    "NwtBiDAUmTqi9fjZhxD25A4ccvjQW68RVV0cQZMQiyBcpsOVq5o+eRlR2z8SnXv1tbLIeh"
    "44pgGvLUPpprX/AlgHFbr2PgIA2BuIKWU6xXPg2CpLIXJRwHnprEEa9gPBjRaYBVj+g4gF"
    "TWcJz+2aVz8f7ScRqFN2KBWKngRGSqD98mE6qyBIwxhLe/tdt7ewft1l73cL9zcLB/2Do0"
    "tjbeourgNg4mZSt2ZTk7/XDav8SAhHll41cZBbcWQzWNUTYxKftxqRYzcOJTuZ7/FJHLgX"
    "m4fA4WjD/dJIT0xgmAj7VvPnY7G/j9q3d+8rF3/qbb+TVLcj/RtK0K6U7pzWwXVVguAGuy"
    "7yYb985KJC8AP4fchSBlNz00H53e3e4W9O52S+lFVZZee/yCh7t5pQ07i7t7434OVD/i3p"
    "0mID3YqyUgi6sTcO8ELC5ilTOQA94rBclO/bozMKIsplFDGGlVzEJpCtYgX9Kb0N7tHHQO"
    "97qdJf1LySbWiwwvb+yVCnwV9ZJofYTyxsZoNFm5nKMA+8EZlZ5T0Ii2KLMtqsJ2mJdQTs"
    "eWTnxuDDgZEFzYC2f5ACGjb26aH8RX1+3GB2ccW2fb3MYwMqNMY1urBRmC7VmLE4GtUNjk"
    "fxTm0QkXxHTZTdu7Rr6kCrCTjgJMNtzoI3LHLCDu8HMdOw4YBgOXRab1RS9GJExLrgw4mJ"
    "MZ0z4ZCvMDoQYRDyR806CnUWzdRa8c4HUfXffRTzEJD93a0WDticSpnJf0dgkiR+5wrkE9"
    "w/NoU8F+OjtGz6FS34KE4ePTfu/885s/e/9YksN5ovp01v+wsI+E0mNpHTWOP1++7+U4tx"
    "PAaqQvITXr92U9PVGqUZ/F1fzfl/+JN3LwiwNDrap4CS5A65vwvRs95DKEUMi5M2HD6nnI"
    "YutE/FAiIippEEDAVFg9EzlwnYrXNvxoPWwSftrko55v1/Pt15eAJzJ+6oFkrt9YM3hKNM"
    "1NIyea2tw1cipPwd2TmEqzl9cyePnB/bd8pHINUmFIBWbLZyorkBf4lW57f3+LuYqxKh2s"
    "WF1208WXqgLDifkLZHe31drmG/NWq/wrc9Tl7hTxf5wVGf7j4qxfcp1IITmWPeZq8i8xN+"
    "nneKRtIBfJyPTyC06XrfwK3SdrGnl0cPx/H2a3/wGvzDSP"
)
