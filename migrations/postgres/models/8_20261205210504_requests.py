from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "request" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "lookup" VARCHAR(64) NOT NULL UNIQUE,
    "secret_lookup" VARCHAR(64) NOT NULL UNIQUE,
    "key_id" VARCHAR(32) NOT NULL,
    "verifier" VARCHAR(64) NOT NULL,
    "note_nonce" BYTEA,
    "note" BYTEA,
    "created_at" BIGINT NOT NULL,
    "expires_at" BIGINT NOT NULL,
    "ttl" BIGINT NOT NULL,
    "answered_at" BIGINT,
    "quota_tag" VARCHAR(64),
    "max_bytes" BIGINT
);
CREATE INDEX IF NOT EXISTS "idx_request_expires_286b4b" ON "request" ("expires_at");
COMMENT ON TABLE "request" IS 'A request for a secret (``docs/request-v1.md``), waiting for its one answer.';
        ALTER TABLE "receipt" ADD "answered_at" BIGINT;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "receipt" DROP COLUMN "answered_at";
        DROP TABLE IF EXISTS "request";"""


MODELS_STATE = (
    "eJztXW1z2zYS/isYf4l1Q6uOnTg5p9MZJ/E1vkntnuO7XqfqSBAJixxTAEOAljW9/vfbXY"
    "BvenFExXEUlf1QRwAWXDy7wsuzS+iPnbEKRKy7b0Uc3Yp0eil8lQY7x+yPHcnHAv6xpIXH"
    "dniSlPVYYPgwJpHAtaVWQ21S7hsov+axFh5Waz+NEhMpia0vpGDiVkjDjGJayAD/cjYRw1"
    "Cpm2NmQsFUZobqrosdBsqHHiM5aijbkz35SxoZIySLJNWAYlKDbqAIU9dUpA03gvkhlyPB"
    "IsNSkajU6C4bDKhqMGCR7skEHgUqeMwNVQRMpfCBB6/g8a6WpWoCrVmQCcYN9CDFnelz0G"
    "Cc4N/BoCczGQutUWWV3oiUhSoONDxYs1hwLdjuYED/6GfSRDE+3ap+nZksFR0Y1WBAAPSj"
    "gHRDFAzjGh53YfTeKdbtnUGdZ8cHVmUwXIH2YU4XwjWT0cdM9I0aCWiYArq//Q7FkQzEnd"
    "D48bcdggAbz4xkB1pCrfBTYfoxIJ8lO7+jdHLTv45EXPeoiNyHyvtmmlDZ62h0Js0/qC0a"
    "edj3VZyNZdk+mZpQyUIgkgZLR0KKFJTCJ5g0Q/eSWRw7T8w9zo6tbGIHVZEJxDXPYnRSlL"
    "YKlGU7/f75xVX/w+lVv78z58C5RMUvXZGvJDo/qKoJgBGqsPf3g4PDwxcH+4dHL58/e/Hi"
    "+cv9l9CW9J2vevGnVaZEy3ZFmJ39eHZ+hQop+IbZrx4W/Eky3HArRbYr0c+9Zd4Gb0KeLr"
    "ZAVWbGDjDAWTvkqG+uIcb8rh8LOTIhfDw8ugfj/5xcvnl3crl7eNSpA33uag6oCiEvIa5/"
    "ERrgPCf4MGDnBSXa5VT86HAfPVsB7qNnS+HGqjrc5J2N3XlL4T08WMWbD5Z788EsvMr3sx"
    "RWOJznG83bM4KfnsC/BbAfcQ6vTCj5urvyRJILbKGHP11lvn66fL5+Ojdfu42Mnkd4qW9X"
    "RbbJsQ+ePnvx7OXh0bPCn4uS+9x43mVnd4iNZo4FwtsE8iPPHpUDRDMzzAi2JljfBFybPk"
    "7KWZNJZkZqLfzdvnrD4H+waYYgEmmq0ibLY11qrTVy03CtL5EHL1dZIw9eLl8ksa4OdUF1"
    "NJ7OZyW3yJEfYR5BHuX6pnKWx4Ih928mPA36czXqQC1rO181PhjPlnDJRwQnjhsVdgTgpf"
    "AFwLScIaw38O4jCFPbdDV+8JeQG+Ku4GzMjUrZmE+RHUsl40OVGcaZPTcfE29mGTyOVGA0"
    "FtpjErkuqgITGjj5zdOID/8IZBsZ/DcY2MO85eY4U1LsTaDzkOsw5xwHA4dH/0ZMB4NXyD"
    "VWiQDHOWJ3ROFR3RPN1EQy24K689gkjPyQ+VxKZdgIvnKue9cb9c7QG7q5ciWnyQpKM4XB"
    "8NgymsMslaLOaVpV4VlKi7wbcZdEqdDEaaIuLOFaQw+AZqCRjLQNAqRRr3kU00xgN9D24a"
    "Cn7asY3CRVcrSH/SRhikyor2Ajgh0oUIU6sKKTUFhKFDSLkgjAf+LAiiN5wybw9Oso1Yb5"
    "ofBvQKldzuyayn48vcJBvjs9eeuxf364OMdPCbh/5xU7B0sx2voUyEuPbD5xJLKSvkB9jL"
    "oR0tKv+I2gwbCTn88YVVRMhrrYzsjNQJVJZEK2i486rpWhy0EhqIE+hZywcD4ZwUBQCTSM"
    "7SsybDjNAUDTPEHuF9XpshMog9lSY1luuF1A0OiuBjcXXVcNVuiQj1FpQB5JFQJHRSjQE7"
    "jUE9DEVzBMdFP7uWIMRAlGSzr2ZEmoDwXJlE4GVuFyWpi7y66w7USIRCCPHgvjgEQOHZHO"
    "XS3J0pGYdbQuOyU+2+GMFWi+XfsZv7A0rKG4hr+2JwcHumakCXcYCH1pJMmSabiEwY8ACI"
    "0zlwcfIq0zaGy/dh33PVqVPs91t3R57jcoDf9v+fLN5Mubs7gPTd9uEFf+8OTtpnHl2w12"
    "yyN+SR7RLeGNz0d1uZZmWZtmKfehzQxQl2sNsLYB8rNDYwvMCLYMwboWmDleNWAbF0hu0z"
    "fhwSjHYhffyMGrUtsE6yO7d3H4bxiKroq1k8u66FePrKuDX5VqsV8X+wrX0gz+GcHWAt8k"
    "+U503H3ke7WBdz/5Tk1XI98LBpFdq7SgwZFERCt95yr3bp92x8Fg0PHYhEcGeWJsjuQlcm"
    "nWA+dp94fsHAn3Vcl26vY+st3y0Y5brxCfkyiO2VDkfGImkZfdRU1K7tUo1UFa+FakEVg3"
    "dex92Qu04b6PWb95EwaqFN1Zvji9tcXQEfyf2GXH7/ckWEoxaBrdOo606BcFkB3WsJe2VV"
    "IZSiLGv9RFZEIECj/3JRKriMF5znjmxHN3EbmrhbEMeN5xT/oYJBGBl1PQpUHgIzfQp9Sv"
    "Ch7XssOGT3XOrM+EDmBclsi2XkEEvs9BBowYEX/Ocq2IeTex1SxUEzQXeEbFWBhzJJb6Y6"
    "YM7xs+gsao/mCAPMBwagRGH3YpExyXKBdSwYqeJCGPWW5eIiakxSRU4zoVDiMBrUYwN2nT"
    "Ze8ofxvACSPShpuetFGQUsimpXN9QzZLwI5IkaPtbBwJ2vuhM631hJUTtCsH2ZZPbvnkTT"
    "RCyydvD9h2aWqCcimxhYzyw+de5zuEJhBXZbYQ5If34nIvtGhdlDydLslSrcnNQE3bi2/v"
    "ZHXfcvf+4jX2PNb6Y+zAfn12fnL56+5PJ/8lvMdTV/X+4vzHvH2itBml1NHO61+vTk8WwN"
    "8c+Bbyz4C8DVS1gaq/tgHg6NiQxDRtDnxLYH7bFiiIkCbbyZrQ9qXKP/x2siCXmnl5Taz1"
    "8W+QpP9ADMJyjr5W791H0VsuYjWGHq/A0DZhu0gztiy5UchVI/u4+OKMT0ohp54TmshPeq"
    "ySj42p0jEaW9yZ40/luVv+eyYT3XKxfpSEIsVeoAjjtEjrx1ObgItS9GAi5CtPz2nohUy5"
    "y8N2idVumDb51wn0JLQtcn87mCntYKAk/hjTyHPBXfcX7dSh3GJAo1SlJ33YbSPHfhNc9/"
    "8GT9/vkHq8FgQ4xmTidz+dvPEW8vxeAVI1WOHiBEmqoMCFGWyOOxtn8NAE9oL4AR4ejrm/"
    "p0N+8PzoGC8WoSRxUO/oWZbGmMA/5DD6UNyxIBohuR5J5OQ1PkrwNI6IeKY3/irsfDDsjq"
    "NRal8SIMhArXHHpmu7602q+fA0cJu+HVCB15OW1M6SgNLbd4eZDfdQfADdBN+hgGp4CuB7"
    "jJeT/GyPLx/+9d7dU2KFe3KisjjAFzNubahhjBb1VTLNASudCcfH6UYWZrIEk7dtcAE6Wf"
    "hmgQ0X5NeruHBOdyZ6QK5NwRpwRi2yQMnpuHi29ZpKvn89OMB2y9dEeBCA6XTnVU9S7AUB"
    "IWvUMtVZItK93BlhgRaFxxbvepDq0BZgVkMVTNeKFGA2em2Zb8MIG7GueW0Y4auFEXi88J"
    "SynJTKJdYkpTbtjPhViMA1KNjPY19b1HfKJbMZ9HW5Fv918cddI26B+riNbLaizom27NTa"
    "3AhiORawoZz2b6JhczvUZVtDfJYhEp7yOBZxpMfNLTEj3JpifVM8dnh/0xisbYzubzTGD7"
    "+Rb0Odbajzr22ANurzpeaZDYk7XGHy8vKwQ7Xauy/qQEnQqwUdTmTthhNu6HYSO2ey/NYN"
    "e9OIbYQ3jBy7/OYi4RqpUBFfL3gx4EG7xzDGiSuyudgk2f8+Cn7of59yGajxD8jQ22tT2D"
    "W4aHH5iOfCFJY1R2YdSWBL5efMr+2CwcbTfCqJ34YmiIzmGDkoqWtk+pCwd1eAV1PI7S0n"
    "2r0lQQPpsiu8eohxvM9EJMoPERcFir+avY+HCGYLjSv36C2IW+jHJffjjS34koIrpAeNlA"
    "qwId2VlunKewC+4ileTZ4T/2geDIGEKkvjqb2THCeGfhyNI5QBS51/9/Pp5dnFW7xoZj4H"
    "H0MTM2n4PUnS2qbgk0aYhc+GYqpc7AdJdS598USvyHq3VPZGUtn0t8HalLdvk1vbFO2vf4"
    "izC0MTgEuJLQS4PcFtyXy9ESe4TTtEfL3Lg90OrJkFZiVbG6xrg3K73MwCdbkW/7XxL84T"
    "TVbaulRLY7TJq5vn5RtCIv1ifzJtOY1Ub+DdRyS5n19bkUrKL12Gc7/OhkUdJqLiKZ9+rI"
    "fSFJXMyZ9FV0ms0Yu9M8Kmd+J9skS8YOt/X74vM0yjkUQixsp4eVboLM9DGaVVomeXs4X0"
    "jg4xz0+KCEmKDrE1pBuI4O2+7qoIN4YhPMmpPhRmIoTEy3fHnNgvL780zbPXNHuDQafL3r"
    "rsS3vTQzWZsSVJNnwq8O4hSdr32h/7F8UWLIGf+EmxRavfNpzpv8jPSbTE1Bcmptp0yq+R"
    "zme3B81gL2Va3JvgviFb5xORRn64aM/sau7dLPOyzaf2ysvxf+Bt3V9lT/eZd8Iu363BgU"
    "CjSg1Wt4rIFi5vB8+fr7C+QaulCxzVzbxRnjTaCbvmW4ju0/39VTZo+/vLN2hYNxN3sT9l"
    "NI8w/lLOkpBLKTKDchD5hv2PTrjfINr3gItg1NazHNNiOavA/WbBYoYdvP7ai9mf/wcBmw"
    "w5"
)
