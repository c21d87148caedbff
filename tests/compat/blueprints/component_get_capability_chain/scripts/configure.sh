#!/bin/bash
ctx logger info "subnet $SUBNET"
