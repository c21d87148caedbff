#!/bin/bash
ctx logger info update
