# Two stages: wheels are built where a compiler exists (pdqhash compiles C++),
# and the runtime image carries only Python, the wheels and a non-root user.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hma ./hma
COPY hashers ./hashers
COPY matchers ./matchers
COPY banks ./banks
COPY actioners ./actioners
COPY database ./database
COPY config ./config
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --create-home --uid 10001 hma \
 && mkdir /data && chown hma /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER hma
ENV HMA_DATA_DIR=/data PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 5000
# `hma serve` runs gunicorn (one worker per core, threads) after creating the schema on
# first start; the one-time admin token appears in the container's log.
CMD ["hma", "serve", "--host", "0.0.0.0", "--port", "5000"]
