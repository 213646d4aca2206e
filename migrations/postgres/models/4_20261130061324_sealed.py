from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "secret" ADD "verifier" VARCHAR(64);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "secret" DROP COLUMN "verifier";"""


MODELS_STATE = (
    "eJztW21z4jYQ/isavjTpkExCckmafspdr20616TNpb12SscWtgAPRnIl+QjT3n/vriTjFy"
    "DBlEs5zl9CkLTS6tlF2n28/rs1FiGL1eE3LI7eMzm9Y4GQYeuS/N3idMzgnyUj2qRFkyTv"
    "xwZNe7ERCd1YM6qntKSBhvY+jRVrY7cKZJToSHAcfcsZYe8Z10QLohgP8ZOSCesNhRhdEj"
    "1kRKS6Jx4OccJQBDBjxAc1Zbu8y9/JSGvGScRNDyjGFegGihDRN01KU81IMKR8wEikiWSJ"
    "kFodEt83Xb5PItXlCSwFKrSJ2yoLiZDwhYZfw/Kul0gxgdEkTBmhGmbg7EF7FDQYJ/jp+1"
    "2e8pgphSoLOWKSDEUcKlhYkZhRxcie75t/vJTrKMbVrer9VKeS7cOufN8A4EWh0Q1R0IQq"
    "WO5Wq4PX2HdwDX1tuz+wKoHtMrQPcboYXFMe/ZUyT4sBg4ES0P3jT2iOeMgemMKvf7QMBD"
    "i4spMWjIReFkimvRiQT5PWnyidjLx+xOKyR0XGfUy7p6eJaXsZDa65/taMRSP3vEDE6Zjn"
    "45OpHgo+E4i4xtYB40yCUriClim6F0/j2Hli5nF2b/kQu6mCTMj6NI3RSVHaKpC3tTzv5v"
    "bee/v63vNacw6cSRT80jUFgqPzg6rKADBAFQ6+6nROTs47RydnFy9Oz89fXBxdwFij73zX"
    "+QerTI6Wncpgdv3d9c09KiTgF2Z/etjwwchQTa2UsV2OfuYt8zZ4NaRysQWKMhU7wAards"
    "hQ315DjOmDFzM+0EP4enL2CMa/Xt29+v7qbu/kbL8M9I3r6ZguhDyHuPxDqIHznOBmwM4a"
    "crTzo/jZ4T47XQHus9OlcGNXGW7jnbXdeUfhPems4s2d5d7cqcIrgiCVcMPhOV/r3K4IPn"
    "2AfwpgP+MZXjhQsnt35YMkE9hBDz9e5bw+Xn5eH8+d1y6QUfMIL/XtosguOXbn+PT89OLk"
    "7HTmz7OWx9x43mWrEWKtk2OB8C6B/MynRyGBqGeGimBjgvVNQJX28FBO6xwyFam18Hdx9Z"
    "bBv7FjxkDEpBSyzvVYllrrjtw2XMtXZOdilTuyc7H8ksS+MtQzqqP2cV6V3CFHfoZzBHmU"
    "/qiQy2NDjwajCZWhN9cjOmLZ2PmucWdcbaGcDgycuG9U2BGAdyxgANNyhrA8oP0YQSjt0N"
    "X4wXdDqg13Bbkx1UKSMZ0iOyY5oT2RakKJzZsvDW9mGTyKVGA0ZqpNOHJdpgtMqCHzm6cR"
    "N78Eso2+bxN5y8tRIjg7mMDEQ6qGGd/o+w4Lb8Smvv818oxFEsDxjYa6M+1fKCImnNheM1"
    "WbTIZRMCQB5VxoMoCfmpvazWRmJugFhi7MeUwyozElbIDGlsXspZKzMo9pVYR1hGKGcXxI"
    "IsmU4TBRB5JQpUAa0AsVko92QIi0aZ9Gsfnl24DZLgz6dflsQxMp+OAA50iGElnPQEDQcU"
    "jucdcTxhKG3GrMNDOShlcVPDCqJKkcsKoih+S14TftCqYDwCd79jsaUCBl22N9+Oxytz9U"
    "O1JwAJEJHFYGSG7kJpEegrlJygcpUwq9uA1fIqVSGGxNsb8yiZpp3DCkW8qQ1uftNk3YbR"
    "E7unm6btvY0d0Gu2GOPiZzZOKFNSLislyTWK+dWOeRSD0DlOUaA6xtgCxyrG2BimCTE65r"
    "gUqAXYNfWiC5S7+EjZFMs4i9loMXpXYJ1s+H8nhrAs7ljEepv/0Y4WFD19X4DqxpUjYbd/"
    "nrhEYa83AtIGU1SfbiSqgnpZCV+N5UGHFBRmzaJoWkG1L/JEZjswd9SZ4gLywlUaEYkBHx"
    "/SBKIPXFWaBJJIxj8h1PbRaNUmZhwwAUVjdsimE5JHIpMAamgr+2rgmBV2TvBrS4zLZps3"
    "cn0OUwdpbA7x+SqwwGw8rEEVZFOcE994l22jfkAKCRq9LlgVAaK69GYd/7ElY/2jfqUdAI"
    "lorAe6Tvu+IyB0sYDRgIOVanBBINAizxSqSAXtRGMoDIKDROQSaBOIRldIcrGZu4QjVkOc"
    "zalv4ITUPGN6VJiIfHZZcLTn4CnQeSvf35javtsr1kItI4RC7rvVEWNi2RX0mmma65uUgE"
    "7kFNFRvRaYIkhxJmzGKChiCrq7KKNEeirEyDFCKwhghpiJBtNMLHzs1pvDCk4FROlyTnTq"
    "ICbm+qmfoEA4rHHPbN7UuceazUX7FD+OX1zdXd73s/Xv1mQB5PXdeb25vvsvGJPQaVmeP3"
    "+9dX1bIEPEDrgT4TaVBfF/X8jqkHfVmuwX9d/DGQwUdVHkY29W7UOdEmlVk7U0csxwwisK"
    "k3inr17VCWbQzxnwyRUEnjmMWRGte3REW4McX6pjApXp0YM5fYvcKdzVdvZwlrHYSLMruH"
    "8eYD+eYpUPMU6PMzwJaQtO/su57LWdrygPZjNK17b3Q1nvYqqxb7QhGV9mZ9SLgiIWbeMl"
    "JIswmeVW/N87ZrzWKryyyNiYVPhtLF0b/cvcmZ1GjAkf+1Mu2M/UzBL2WBajXMaZFr3aMl"
    "fhDZoR5yfmooJopwFiGlt4+ValY3EIE4SGdVanYPPVjJqd5jesIYh0nHY6qQV21nz/7att"
    "as7fv7h+QbR3EiT2znqkcpNiTiVpKITbnPc78KueAR8BPvQi569LsTBT8fow7+2TOW7cZ4"
    "8ylLw9H+HxyhDQ9qPo+YyTS418F9S0LnK8jzg+GimNn1PBos03zMU7Hycvw3HNZ9LjHdfy"
    "xtWh6tQUKgUKUat1tBZAevt86LFyvcbzBq6QVn+iovnCe1ImE3fAfRPT46WiVAOzpaHqBh"
    "X4WOs+9gzSP8w9vbmyVMXC5SQTmMAk3+MRnuJ4j2I+AiGKX7LMN0dp0V4H614DLDCV7+35"
    "fZh38BMpuVmw=="
)
