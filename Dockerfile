# The challenge image: code in /physionet, dependencies from requirements.txt, no network at run time.
ARG BASE_IMAGE=pytorch/pytorch:2.13.0-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

RUN mkdir /physionet
COPY ./ /physionet
WORKDIR /physionet

RUN python -m pip install --no-cache-dir -r requirements.txt
