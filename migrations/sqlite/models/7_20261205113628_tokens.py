from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "token" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "key_id" VARCHAR(32) NOT NULL,
    "digest" VARCHAR(64) NOT NULL,
    "created_at" BIGINT NOT NULL,
    "expires_at" BIGINT,
    "last_used_at" BIGINT,
    "revoked_at" BIGINT,
    "rate_limit" VARCHAR(64),
    "max_bytes" BIGINT
) /* An API token that may create secrets (``ots tokens``): never the token itself. */;
        ALTER TABLE "receipt" ADD "token_id" BIGINT;
        CREATE INDEX "idx_receipt_token_i_8844dd" ON "receipt" ("token_id", "id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_receipt_token_i_8844dd";
        ALTER TABLE "receipt" DROP COLUMN "token_id";
        DROP TABLE IF EXISTS "token";"""


MODELS_STATE = (
    "eJztXG1z27gR/isYf4nVkV1HdhzXubkZJXET3+Ts1HGb3pxuRIiERI4ogAHAyJpr/nt3AZ"
    "Ai9WKLiuIoOuZDZAHYxeLZFV4eLPnn3kgELFaHr1kcfWZycsN8IYO9c/LnHqcjBn8sadEk"
    "ezRJpvVYoGkvNiKBa2ta9ZSW1NdQ3qexYk2sVr6MEh0Jjq2vOSPsM+OaaEEU4wF+UjJmvV"
    "CI4TnRISMi1T1xd4gKA+GDxogPKsp2eId/lJHWjJOImxowjCuwDQwhom+KlKaaET+kfMBI"
    "pIlkiZBaHRLPM1WeRyLV4Ql0BSY0iRsqC4iQ8IUGL6B7V0ukGENrEqSMUA0aOLvTXQoWjB"
    "L89LwOT3nMlEKThRwySUIRBwo6ViRmVDGy73nmj27KdRRj79b0fqpTyRowKs8zAHSjwNiG"
    "KGhCFXR3rdXBBdYdXEJd044PvEpguAz9Q5wtBteUR59S1tViwKChBHR//wOKIx6wO6bw6+"
    "97BgJsPDOSPWgJtcyXTHdjQD5N9v5A6WTY7UcsLkdUZMLHlHf1JDFlL6PBJdf/NG3Ryb2u"
    "L+J0xKftk4kOBc8FIq6xdMA4k2AU9qBliuHF0zh2kZhFnB3btIkdVEEmYH2axhikKG0NmJ"
    "btdbtX17fdDxe33e7eXABnEoW4dEW+4Bj8YKoyAAzQhIN/tFrHx89bR8enZ89Onj9/dnZ0"
    "Bm2NvfNVz79YY6ZoWVUGs8s3l1e3aJCAX5j96WHBFyNDNbVSxndT9LNomffBq5DKxR4oys"
    "z4AQY464cM9e11xIjedWPGBzqEr8en92D8n/bNq7ftm/3j00YZ6CtX0zJVCPkU4vIPoQLO"
    "c4KbATsrmKI9nYofHe7TkxXgPj1ZCjdWleE20Vk5nHcU3uPWKtHcWh7NrVl4he+nElY4nO"
    "crzdszgg9P4D8C2I84hxcmlGzdXXkiyQR2MMKfrjJfP10+Xz+dm6/dRkbNI7w0tosiuxTY"
    "racnz0/Ojk9P8njOS+4L4/mQnd0hVpo5FgjvEsiPPHsUDhDV3DAjWLtgfRdQpbs4KadVJp"
    "kZqbXwd/vqLYN/Y9OMgYhJKWSV5bEstdYauW24lpfI1tkqa2TrbPkiiXVlqHOqo/J0Piu5"
    "Q4H8CPMI8ij9YeEsjwU96g/HVAbduRrREsvazleNWqPZEsrpwMCJ40aDHQF4w3wGMC1nCM"
    "sNmvcRhNI2XY0f/BhSbbgrOBtTLSQZ0QmyY5IT2hOpJpTYc/O54c0sg0eRCoxGTDUJR67L"
    "VIELNZz85mnEzXeBbCOBf55nD/OWm6NEcHYwBuUhVWHGOXqew6M7ZBPPe4FcY5EIcJwjqj"
    "MUnql7oogYc2JbGHVNMg4jPyQ+5VxoMoCfnFPvtBntBKPhMDNuymmSnNKUMBgaW0azl0rO"
    "ypymNRX6EoplathdEkmmDKeJtpCEKgUaAM1AIRlpGwRIo/ZpFJuZwG6gbedgp9WVD24sBR"
    "8coJ4klMiE+gI2IqhAgClGgRUdh8xSomBZlEQA/hMHVhzxIRlD7/1IKk38kPlDMGqfErum"
    "kjcXtzjItxft103yy4frK/yWQPg3XpAr8BQxW58ced40Ph87Ellwn6E9WgwZt/Qr/iLMYE"
    "j7/SUxFQWXoS0dbkIMzBhHOiT72M05KZZhuEEhmIDxhHwwc/EYwSDQAHRKh0ea9CbZwNEl"
    "T5DzRTMOyS32OWYsYUhKx0w7q5CQRrMzvyWpHLBZrx2SC0MOO6OxArHYt98x+gXy3T3Wh0"
    "+ryVmAfgYjcSAw25sI5EbWjJVywHOQMqVwGmjCl0ipFBrbGG6szEJnVlvWOYMfpeH/mnbe"
    "Ttq5Ohm6aRZ0iyjnzXOg20Y57zbYNR33Lek4txpWPmaU5Wq2Ym22Yrqdq+aAslztgLUdkG"
    "3BK3tgRrA+aK/rgZlTSgXSboHkLv0SNsbc5bv4SgFelNolWB85vPMzdMUb3aJYPbmsi37x"
    "yLo6+EWpGvsfkEH9YI5aywnUUn3zPv7UHtpWo08xRVJZQi+noSKNVJ4WpMcMR7c4sfJBKS"
    "Q535qERS7IkE2apMDXIZUWo7PZnT5/iAft8AVMJXJdnudHScgkaoEinICQjoonllNCKdOx"
    "IRALvRty1jBvEqlZaAOq4P8iT+fINzdMy2c5gQ6Htjmd1Tgk7QwGQ/LGSDNmgvvuE/3UMH"
    "QZoDE1pcN9oTQmcg6Dfvdv0PtRw5hHwSLoKoLokZ53jvzY21/br5AYQ8qvbH0zB6nIHFPf"
    "x+zRRAooQMtyDpSMUug0gd04foHOwxH1D1RIW89OzzHx1BCJYN7pSSpjJHh7FEYfsjsSRA"
    "MGshFHulBhV4xKGLEE7eZGWGW8qOcFvcNRNJCWRDaQgVmjhmUgXfprkS81A7eMZGAKmh1u"
    "yfM0CQwFut9LNQFPgCJqiNAD5NihGnoBfM8xefU9ADqQ7MO/3rk8Vivc4WORxgES95+Z4R"
    "1H6FFfJJMMsGkw4fioydglOk2Qj1TCRtFi5pngFZbK0m8d4Yn076dUaNrVdJCFNsDAAghG"
    "xdJA8Mko79tGTYEPNopBZAA/EwyR6TUCDQJwnWq86HBDRCMgxhsl8pUkTB5kwRiC//KIze"
    "8CjOnQFmAWPRFMViZZC2c5Q7Pmw0QFxcqab6351i10wremAGm8cO/MqZws4QCdxAy4vYlm"
    "6gc8t9wXsO+uX6LmkVKfYofwy8ur9s1v+7+2/2tAHk1c1bvrqzdZ+8RO68ro+O32oj2bUo"
    "YLRjXQc5Ea9XVRny6Z1aAvy9X4r4s/7hpxC9TFbWS1FXVOtGZM1j6zI5YjBhvKSXcY9ar7"
    "oSxbO+KrHJFQSeOYxZEaVffEjHDtivVdYc7TVfaYU4ndS7rc/JM3GTtQBeGizO5hvPmNfH"
    "3ZXF82/7UdUGJ2Vp1mSkL1PLN4ntmSe4dbvDhafu1QrG7ed+tgLqBWu3Ro81IGLNUmg9XO"
    "mSRLJN33PAEfppHyvMa5y6M2r2YwkpFWLO7P305sVj1eY7Rdkc1YNpLdn6Lg5+5PkvJAjH"
    "5Ght6m15I+hGieT9t01xSWNUdmHUlgS+VnzK9VQWDjqReS+3NXE4aMpnhzMKWukelDwt69"
    "IoILHZrrGBy9SdxVhiWmdiCH5BZT0wnFFF2WCD9EXAQY/mI2X9sQzBYaV940KemfQY9Ls1"
    "Z48aE63BWajgZCBNjQPEuTqkJGti+oxFdXZMQ/ugevQEKRynhi31mBE0M3jkYRyoCnrv7+"
    "/uLm8vo1+MkBir9HQxPgTZBkU7fZzPcON9Jga06Qc/yjxybC3f0gqU65z56oFVnvmsreSi"
    "rbfFZYm7L2O5hsufn976Of4bYb4M0f4uzCUAXgqcQOAlyf4HZkvt6KE9y2HSK+38PlbgdW"
    "zQOzkrUPviJj222Xq3mgLFfjvzb++XmiykpblqppjIcX2/xUVi3MS2J1lP+Ayasf7Ss1l9"
    "NI5QbN+4gk93rOFamk7KF8OPertJfXYSIqnvLNy9xMmqLgGfmzgDFaRwsSQ5iTiumd+Ii0"
    "IV6w9b9v3k0zTKMBRyLGyjSzrNBZnsdklBaJnn1KFtI7KsQ8P84iJCkahq0xtoEIPgGubB"
    "aoG0MPenKm95geM8ZB6WhEDfvVzJ4GatrH+Jue1zgkr132JebPWl1ZMmNNkmz5VNC8hySp"
    "HwB+7DdOLlgCH3jl5KLVbxfO9N/kdUM1MfWNiak6nfJ7pPPZ7UE12KcyNe5VcN+SrXObyc"
    "gPF+2ZXc29m2U6bfPQXnk5/hve1v1V9nRf+bDz8t0aHAgUmlRhdSuI7ODy1nr2bIX1DVot"
    "XeBM3cx7fZNKO2HXfAfRfXp0tMoG7eho+QYN62buXeyr7uYRxjepLblymYrMoBxEvib/My"
    "fcHxDte8BFMErrWYZpvpwV4H61YDFDBS+/92L25f/WmLjq"
)
