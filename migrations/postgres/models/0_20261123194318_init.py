from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "secret" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "lookup" VARCHAR(64) NOT NULL UNIQUE,
    "salt" BYTEA NOT NULL,
    "nonce" BYTEA NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "kdf_time_cost" BIGINT NOT NULL,
    "kdf_memory_kib" BIGINT NOT NULL,
    "kdf_parallelism" BIGINT NOT NULL,
    "failed_attempts" INT NOT NULL,
    "created_at" BIGINT NOT NULL,
    "expires_at" BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_secret_expires_e30cd4" ON "secret" ("expires_at");
COMMENT ON TABLE "secret" IS 'One sealed secret waiting to be read.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztmNFO2zAUhl/FyhWTYCqlUMZdixgwsVYCNA0BCm5y2lh17GC7g4jx7rOdtmmapJCywd"
    "h6g9pzzu/a32/i+Dw4IfeByo9n4AlQp+Bx4Tt76MFhOAT9oTC/jhwcRWnWBBTuUSuQttLW"
    "9KQS2FM62sdUgg75ID1BIkU4M7VdBkgCpuCjRIbuMFGEDZDiqAdIAPY/mqF87umxdOLZqi"
    "t2xY449SViHA0hXkcRljIKBJaAuEARxYQpuFd76OaGcj4cRTc3iEiEEWewcYdjFGAZIN6/"
    "YioAXZT8lqvH0oWY+TrkkSgAYUbRIR4Bk1pMY3RHVIB6XP8xUq2w9frzFUtnYRc2YuR2BK"
    "7iA9BpoZd3ea3DhPlwD9J8vXTgPiICpIuVc22S0dDtE6BZn4i1xcZdFUc21iaDY6Y+21oD"
    "sed6nI5CltZHsQo4mwo0ERMdAAOBFZhfUGJkjGMjSscOT7xMpp6WJHOe0fjQxyNq7DfqZA"
    "JpzHHdTvfcPTs4d10ntzUmihnfxyGPM7Ot9FSlBTAwU9j4VK9vbTXrta2d3e1Gs7m9W9vV"
    "tXa++VTzMZlMSisZyjI7PjzunJsJcb13ky1tAo9WgxVOVNaalH6ygfIO7AdYFPNPFXMe6M"
    "XNezAh/veaEOJ7lwIbqEB/3Wks4Putdbp/1Dpd22l8yELujDN1mzK4U7wSU1W0vRkWcTHe"
    "iWIObi9WIJfBOwmkfNNH2isAXrRhT7ptM3Io5S0dE24fd1qnF2tfW98t5DAep066ncNJfc"
    "SlGgg7kNO+OD9ozTFnnHlQDfpUsqK+LPX0RKmGPqtb8V+W/9Dvu4qEoNHKQgvKT9Sc9OnD"
    "9R148Jrna9aGEEIuYndIetV9yGpXRrzIiAgLTClQIsPqTsyJV1YsbUUfE33l0bcABWGkZN"
    "6KUh8KlK/nQ+3PmlDfbDQbu1s7jSn7aWQR8jxefbkzKze3rEqbPKtb7e+l9/fMNbeSAVnd"
    "yoBKBph+Qn84c6c1gR72hndY+G4uw+u8rDafCuvhfAQzPLA4zbrNhMftpRYI4gVOQeNpnF"
    "lf1HLCac1TLadyC57uxFTqvfwvjZcXPn/LWyo/QEgzpRzZ8p7KjOT3NFXe+jGQaavUt7ef"
    "0VfRVaWNFZvLPnTNP1UFwuPyf5DuZq32DLq6qpSuzc29U3CmgBWcZ1/Oup2S14lUMkfZJ5"
    "5CP5F+k36PR9oCuAZG5i4/YTq9ys/g3i+4yJsB2m99mD3+AomeAZM="
)
