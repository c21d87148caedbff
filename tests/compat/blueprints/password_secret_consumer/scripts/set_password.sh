#!/bin/bash
ctx logger info "reading secret $SECRET_NAME"
