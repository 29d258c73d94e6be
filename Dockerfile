# Airflow image with Passerelle's runtime dependencies only (used by docker-compose.yml).
# The `sandbox` target adds the vendor API emulators' dependencies for the compose `sandbox` service.
FROM apache/airflow:3.3.2-python3.11 AS runtime
COPY requirements.txt constraints.txt /opt/passerelle/
RUN pip install --no-cache-dir -r /opt/passerelle/requirements.txt -c /opt/passerelle/constraints.txt

FROM runtime AS sandbox
COPY requirements-sandbox.txt /opt/passerelle/
RUN pip install --no-cache-dir -r /opt/passerelle/requirements-sandbox.txt -c /opt/passerelle/constraints.txt
