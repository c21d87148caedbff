#!/bin/bash
echo "maintenance window for $(ctx deployment id)"
