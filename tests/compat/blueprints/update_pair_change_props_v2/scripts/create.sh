#!/bin/bash
ctx logger info create
