from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "delivery" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "event_id" VARCHAR(36) NOT NULL UNIQUE,
    "secret_lookup" VARCHAR(64) NOT NULL,
    "event" VARCHAR(32) NOT NULL,
    "occurred_at" BIGINT NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "next_attempt_at" BIGINT NOT NULL,
    "lease_until" BIGINT NOT NULL,
    "last_status" INT,
    "last_error" VARCHAR(128),
    "delivered_at" BIGINT
);
CREATE INDEX IF NOT EXISTS "idx_delivery_state_5e7023" ON "delivery" ("state", "next_attempt_at");
CREATE INDEX IF NOT EXISTS "idx_delivery_secret__382a3e" ON "delivery" ("secret_lookup");
COMMENT ON TABLE "delivery" IS 'One event to send to a webhook: the outbox.';
        CREATE TABLE IF NOT EXISTS "webhook" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "secret_lookup" VARCHAR(64) NOT NULL UNIQUE,
    "events" VARCHAR(128) NOT NULL,
    "key_id" VARCHAR(32) NOT NULL,
    "nonce" BYTEA NOT NULL,
    "sealed" BYTEA NOT NULL
);
COMMENT ON TABLE "webhook" IS 'A creator''s subscription to the events of one secret.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "webhook";
        DROP TABLE IF EXISTS "delivery";"""


MODELS_STATE = (
    "eJztW1Fz2zYS/isYvdSekT227Ng+98lJc61vUrt1fJfr1B0SIlcSRxTAAGBkTS///XYBUh"
    "QpyRZVxVUUvlgWsAssvl0Cu5/AP1sjGUKsD3+AOPoEanIHgVRh65L92RJ8BPjPEok2a/Ek"
    "KfqpwfBubFXCTNZKdbVRPDDY3uOxhjZ160BFiYmkIOlbAQw+gTDMSKZBhPTJ2Ri6AymHl8"
    "wMgMnUdOXjIQ0YygBHjES/pu6DeBAfVGQMCBYJ24OGCY22oSFM9myTNtwACwZc9IFFhilI"
    "pDL6kPm+7fJ9FukHkeBUaEKbZUuFkEmFX3j4PU6f9TIlxyjNwhQYNziCgEfjcbRglNCn7z"
    "+IVMSgNZks1RAUG8g41DixZjFwDWzP9+0/XipMFNPszvRealIF+7gq37cAeFFobSMUDOMa"
    "p7s1+uAt9R1cY1/brQ+9ynC5QP5hmS0W11REH1PwjOwDCipE9/c/sDkSITyCpq+/tywEJF"
    "xZSQslsRcCBcaLEfk0af1B2snQ60UQlyMqsuFj2z0zSWzb66h/Lcw/rSw5uesFMk5HopBP"
    "JmYgxVQhEoZa+yBAoVE0g1EphZdI4ziLxDzi3NoKEbeoGZ0QejyNKUhJ2xlQtLU87+b23n"
    "v/9t7zWnMBnGvMxGXWFEhBwY+magtAn0w4+Eenc3Jy3jk6Obt4dXp+/uri6AJlrb3zXeef"
    "nTEFWm4oi9n1j9c392SQxCfMPXrU8NnqcMOdlvVdgX4eLfM+eDPgarEHZnUqfsAFVv2Qo7"
    "69jhjxRy8G0TcD/Hpy9gTG/7m6e/PT1d3eydl+GeibrKdjuwjyAuLyg1AD5znFzYCdNxRo"
    "F1vxi8N9droC3GenS+GmrjLcNjprh/OOwnvSWSWaO8ujuVOFVwZBqvCEo32+1r5dUXx+A/"
    "8awH7BPXxmQ8nP3ZU3klxhByP8eJX9+nj5fn08t19niYyeR3hpbM+q7FJgd45Pz08vTs5O"
    "p/E8bXkqjOdDtpoh1to5FijvEsgvvHvMFBD13FBRbFywvgu4Nh5tymmdTaaitRb+WV69Zf"
    "BvbJuxEIFSUtU5Hstaa52R24Zr+YjsXKxyRnYulh+S1FeGekp11N7Oq5o7FMgvsI8Qj9Ib"
    "ztTy1NDlwXDMVejN9ciOXCY73zXqjKotXPC+hZPWTQZnBOAdBIAwLWcIywLtpwhC5URX4w"
    "c/DLix3BXWxtxIxUZ8QuyYEox3ZWoYZ65uvrS8mWPwOFGB0Qh0mwniumwXutBg5TdPI25+"
    "CmIbfd8V8o6X40wKOBjjwAOuBznf6PsZFt4QJr7/PfGMsyRAxjda6s62f6eZHAvmeu1QbT"
    "YeRMGABVwIaVgfH7Vs6GwkOzKjKLB0YcFjsimNqXABPHYsZjdVAso8pjMR55EaLOP4mEQK"
    "tOUwyQaWcK1RG9ELNZGPTiAk2rTHo9g++S5hdhOjfQ9iuqCxkqJ/QGMkA0WsZyAx6Thk97"
    "TqMUACxK3GYMBqWl5VisCakqSqD1VDDtlby2+6GWwHgs/23HdyoCTKtgs9/HwQ2frI7Ejj"
    "BsTGuFlZIIXVG0dmgO5mqeinoDVFcRu/RFqnKOxcsb8yiZpb3DCkW8qQ1uftNk3YbRE7un"
    "m6btvY0d0Gu2GOviRzZPOFNTLisl5TWK9dWBeZSD0HlPUaB6ztgDxzrO2BimJTE67rgUqC"
    "XYNfWqC5S0/CxkimacZeK8BntXYJ1m+H8nhvE87ljEepv/0U4eFS19X4DrrTpF01ntWvYx"
    "4ZqsONxJLVFtmLb0I9q0WsxE/2hpGQbAiTNpspurH0T2JyNjyaS/YMeeEoiQrFQIyI7wdR"
    "gqUvjYJNMgFBxXc8cVU0admJLQMwM7tlUyzLoYhLQRkcCv+6e00EvGZ7N2jFZb5MV71nCg"
    "8CZacF/L7jDrL7V+Ps1hdRBnYexyWEtiEnb9IkpCfx8kFIwX6R2vQVvP/1XXZRyvWysUzj"
    "kIihT2CJgREZEMhkktM5xdpZhFhzeyWMmTQhxkBLK7OY7WBEker8elfGSKzMKcykMw2r0L"
    "AK2+iEL13o8njh+Sy4miypdDONCrjdiQH9FZ7OTwXsu9vXNPJI649xhvDr65uru9/2fr76"
    "rwV5NMm63t3e/JjLJ24b1HaM3+7fXlV/46cNtB7oU5UG9XVRL86YetCX9Rr818V/GPY8+t"
    "0HodU1S4I51aYuWLvsJSxHgBnYxBtG3fp+KOs2jvhLjki44nEMcaRH9T1RUW5csb4rbL1U"
    "J8csNHbvFszmr0I3dH9D9397DtgSNu6De6lvOR1XFmg/xcdlLwiuRshd5deCvtNMp91pHz"
    "FrRNbY10k0UUBS5Nd05gm6tUZx14gc4UU3XCx3R9L/vntXUGZRXxDR53TaOT+WYlyqGU7N"
    "UmSzpNoeL3FXxFx0iY/SAznWTEBEdNM+XUlytqEKntEmv47k1tDFmTLTu2DGAAIHHY24pl"
    "cX2/mPPG13qajt+/uH7IeMfiNC0I1Vj+5qCK6tJLiaex0v/c7bgt/6nnnpbdFvfDtxs+NL"
    "XHh+8Wx6uzHefDrd8Id/B3/l0oOaXPlUp8G9Du5bkjpfgYqCwaKcOet5MlnmhcxzufJy/D"
    "ec1n0rOd1fvMOyPFvDgkCTSTVOtxmVHTzeOq9erXC+odTSA872Vd4sTmplwpn4DqJ7fHS0"
    "SoJ2dLQ8QaO+Ch3nXraZR/hf729vljBxhUoF5TAKDPufrXC/QrSfAJfAKJ1nOabT42wG7j"
    "cLDjMa4PXffZh9/j+T3eQi"
)
