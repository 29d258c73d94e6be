# Airflow image with Passerelle's dependencies (used by docker-compose.yml).
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt constraints.txt /opt/passerelle/
RUN pip install --no-cache-dir -r /opt/passerelle/requirements.txt -c /opt/passerelle/constraints.txt
